# The export history (Activity) and the access log (AccessEvent) now live in the one audit trail; their rows
# were copied there by audit 0002.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("sharing", "0002_shares"),
        ("audit", "0002_copy_history"),
    ]

    operations = [
        migrations.DeleteModel(name="Activity"),
        migrations.DeleteModel(name="AccessEvent"),
    ]
