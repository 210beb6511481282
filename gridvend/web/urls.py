"""URL map of the back office (kebab-case paths)."""

from django.urls import path

from gridvend.web import monitoring, my_exports, views

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", monitoring.healthz, name="healthz"),
    path("readyz", monitoring.readyz, name="readyz"),
    path("metrics", monitoring.metrics, name="metrics"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("second-factor/", views.second_factor, name="second-factor"),
    path("second-factor/enrol/", views.second_factor_enrol, name="second-factor-enrol"),
    path("i18n/language/", views.set_language, name="set-language"),
    path("org/", views.unit_list, name="unit-list"),
    path("org/levels/", views.levels, name="levels"),
    path("org/<int:pk>/", views.unit_detail, name="unit-detail"),
    path("vending-points/", views.point_list, name="point-list"),
    path("vending-points/<int:pk>/", views.point_detail, name="point-detail"),
    path("users/", views.user_list, name="user-list"),
    path("users/new/", views.user_create, name="user-create"),
    path("users/<int:pk>/", views.user_detail, name="user-detail"),
    path("operation-log/", views.audit_log, name="audit-log"),
    path("exports/", my_exports.export_list, name="export-list"),
    path("exports/rows/", my_exports.export_rows, name="export-rows"),
    path("exports/<int:pk>/download/", my_exports.export_download, name="export-download"),
    path("exports/<int:pk>/delete/", my_exports.export_delete, name="export-delete"),
]
