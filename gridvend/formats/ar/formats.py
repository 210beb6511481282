"""Number formats for Arabic screens: a point as the decimal separator, as on the utility's
receipts, tokens and money amounts (which are always shown left to right)."""

DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
