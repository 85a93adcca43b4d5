"""The site's URLs: the project's own pages, then each app's and each part of the Yellow Button's."""

from django.contrib import admin
from django.urls import include, path

from portal import admin_site, security, views
from portal.accounts import views as account_views

admin.autodiscover()
admin_site.configure(admin.site)

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("csp-report/", security.csp_report, name="csp_report"),
    path("conformance/", views.conformance, name="conformance"),
    # The trust pages: public, signed in or out.
    path("help/", views.help_page, name="help"),
    path("contact/", views.contact, name="contact"),
    path("privacy/", views.privacy, name="privacy"),
    path("accessibility/", views.accessibility, name="accessibility"),
    path("language/", account_views.language_switch, name="language_switch"),
    path("accounts/profile/", account_views.account_overview, name="account_overview"),
    path("accounts/email/", account_views.email_manage, name="account_email"),
    path("accounts/", include("allauth.urls")),
    path("", include("portal.jobs.urls")),
    path("", include("portal.records.urls")),
    path("", include("portal.audit.urls")),
    # The Yellow Button: the citizen's downloads, the citizen's links, and the clinician's side.
    path("", include("sharing.exports.urls")),
    path("", include("sharing.links.urls")),
    path("", include("sharing.clinician.urls")),
    path("admin/", admin.site.urls),
]
