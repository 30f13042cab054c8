from django.db import migrations, models


class Migration(migrations.Migration):
    """Room for any session engine's keys (Plane's are 128 characters; Django's column was 40)."""

    dependencies = [("kriya_client", "0001_initial")]

    operations = [
        migrations.AlterField(model_name="signedinsession", name="session_key",
                              field=models.CharField(max_length=255, unique=True)),
    ]
