"""Africa's Talking USSD sessions and two-way SMS callbacks (CHANNELS.md §1)."""
