"""PDF layout shared by every printed document (receipts, Z reports, report exports): the shipped
fonts and WeasyPrint confined to the package's own files. Below the apps' layers, so that a report
renderer and a receipt screen use the same machinery."""
