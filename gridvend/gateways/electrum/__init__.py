"""The Electrum Prepaid Utility Service Interface v3, served under /prepaidutility/v3/."""
