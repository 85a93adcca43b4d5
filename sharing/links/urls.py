from django.urls import path

from sharing.links import views

urlpatterns = [
    path("shares/", views.shares_view, name="shares"),
    path("shares/<uuid:share_id>/", views.share_detail, name="share_detail"),
    # revoke, pause, resume
    path("shares/<uuid:share_id>/<slug:action>/", views.share_action, name="share_action"),
    path("access-log/", views.access_log, name="access_log"),
]
