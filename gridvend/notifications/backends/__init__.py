"""Where messages go: SMS backends (console, file, Africa's Talking); e-mail goes through
Django's mail backends (console, file, SMTP), chosen by the settings."""
