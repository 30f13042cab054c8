import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [migrations.swappable_dependency(settings.AUTH_USER_MODEL)]

    operations = [
        migrations.CreateModel(
            name="SignedInSession",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("session_key", models.CharField(max_length=40, unique=True)),
                ("user_id", models.CharField(db_index=True, max_length=64)),
                ("kriya_user_id", models.CharField(db_index=True, max_length=64)),
                ("kriya_session_id", models.CharField(blank=True, db_index=True, max_length=64, null=True)),
                ("kriya_token_version", models.PositiveIntegerField(default=0)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={"db_table": "kriya_signed_in_sessions"},
        ),
        migrations.CreateModel(
            name="KriyaIdentity",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kriya_user_id", models.CharField(max_length=64, unique=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("user", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE,
                                              related_name="kriya_identity", to=settings.AUTH_USER_MODEL)),
            ],
            options={"db_table": "kriya_identities"},
        ),
        migrations.CreateModel(
            name="FollowerCursor",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=40, unique=True)),
                ("cursor", models.CharField(max_length=100)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={"db_table": "kriya_follower_cursor"},
        ),
    ]
