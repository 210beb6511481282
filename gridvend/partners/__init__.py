"""Partners: banks, ATM networks, retailers and mobile-money aggregators that sell through the API
from a prefunded float, and the state of each request and advice they send."""
