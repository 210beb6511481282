"""Phone enquiry over the voice aggregator's callbacks (Africa's Talking's form) and its
inbound SMS: balance, arrears and last payment by account number."""
