from django.urls import path

from portal.audit import views

urlpatterns = [path("activity/", views.activity, name="activity")]
