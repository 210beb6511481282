"""URL map of the receipts screens."""

from django.urls import URLPattern, URLResolver, path

from gridvend.web.receipts import views

app_name = "receipts"

urlpatterns: list[URLPattern | URLResolver] = [
    path("<str:reference>/", views.sale, name="sale"),
    path("<str:reference>/thermal/", views.thermal, name="thermal"),
    path("<str:reference>/pdf/", views.receipt_pdf, name="pdf"),
    path("<str:reference>/print/", views.print_escpos, name="escpos"),
    path("shifts/<int:pk>/", views.shift_report, name="shift-report"),
    path("shifts/<int:pk>/pdf/", views.shift_report_pdf, name="shift-report-pdf"),
]
