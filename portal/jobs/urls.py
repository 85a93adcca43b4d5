from django.urls import path

from portal.jobs import views

urlpatterns = [
    path("jobs/<uuid:job_id>/", views.job_detail, name="job_detail"),
    path("jobs/<uuid:job_id>/retry/", views.job_retry, name="job_retry"),
]
