"""Customer logins for the self-service portal: sign-up proved by a meter, its customer account
number and a one-time code sent to the contact on file; sign-in with the staff's protections;
password reset; several meters per login; and the portal's purchases (an STK push per buy)."""
