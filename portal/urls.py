from django.contrib import admin
from django.urls import include, path

from portal import admin_site, security, views
from portal.accounts import views as account_views
from portal.jobs import views as job_views
from portal.records import views as record_views
from sharing import share_views, shl_views
from sharing import viewer as sharing_viewer
from sharing import views as sharing_views

admin.autodiscover()
admin_site.configure(admin.site)

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("csp-report/", security.csp_report, name="csp_report"),
    path("conformance/", views.conformance, name="conformance"),
    path("language/", account_views.language_switch, name="language_switch"),
    path("accounts/profile/", account_views.account_overview, name="account_overview"),
    path("accounts/", include("allauth.urls")),
    path("jobs/<uuid:job_id>/", job_views.job_detail, name="job_detail"),
    path("jobs/<uuid:job_id>/retry/", job_views.job_retry, name="job_retry"),
    path("records/", record_views.records_overview, name="records"),
    path("records/pull/", record_views.records_pull, name="records_pull"),
    path("records/connect/<int:source_id>/", record_views.records_connect, name="records_connect"),
    path("records/connect/callback/", record_views.records_connect_callback, name="records_connect_callback"),
    path("exports/", sharing_views.exports, name="exports"),
    path("exports/<uuid:export_id>/download/", sharing_views.export_download, name="export_download"),
    path("shares/", share_views.shares_view, name="shares"),
    path("shares/<uuid:share_id>/", share_views.share_detail, name="share_detail"),
    # revoke, pause, resume
    path("shares/<uuid:share_id>/<slug:action>/", share_views.share_action, name="share_action"),
    path("access-log/", share_views.access_log, name="access_log"),
    # Public SMART Health Link endpoints: the manifest id is 43 base64url characters (256 random bits).
    path("shl/files/<str:token>", shl_views.shl_file, name="shl_file"),
    path("shl/<str:manifest_id>", shl_views.shl_manifest, name="shl_manifest"),
    path("viewer/", sharing_viewer.viewer, name="viewer"),
    path("admin/", admin.site.urls),
]
