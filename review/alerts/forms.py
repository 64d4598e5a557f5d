"""The alert rule's admin form: destinations checked before they are saved, and a secret that,
once saved, is never shown again."""

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from review.alerts.webhook import WebhookRefused, resolve
from review.models import AlertRule

# Shorter secrets are too easy to guess from signed bodies.
MIN_SECRET_CHARS = 16


def secret_hint(secret: str) -> str:
    """How a saved secret is shown: its last four characters, if it is long enough that they
    give little away."""
    if not secret:
        return "No secret is set."
    tail = f" ending in \u2026{secret[-4:]}" if len(secret) >= MIN_SECRET_CHARS else ""
    return f"A secret{tail} is set; leave this empty to keep it, or type a new one."


class AlertRuleForm(forms.ModelForm):
    webhook_url = forms.URLField(
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text="Receives each alert as a signed JSON POST.",
    )
    secret = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=f"Key of the HMAC-SHA256 signature of each webhook body, at least "
        f"{MIN_SECRET_CHARS} characters.",
    )
    emails = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Addresses to e-mail, separated by commas or new lines.",
    )

    class Meta:
        model = AlertRule
        fields = [
            "name",
            "enabled",
            "min_severity",
            "trigger",
            "source",
            "category",
            "detector",
            "webhook_url",
            "secret",
            "emails",
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.saved_secret = self.instance.secret if self.instance.pk else ""
        self.initial["secret"] = ""
        if self.saved_secret:
            self.fields["secret"].help_text = secret_hint(self.saved_secret)

    def clean_webhook_url(self) -> str:
        url = self.cleaned_data["webhook_url"]
        if url:
            try:
                resolve(url, allow_private=settings.TRACEWATCH_ALERTS_ALLOW_PRIVATE)
            except WebhookRefused as exc:
                raise ValidationError(str(exc), code="refused") from None
            except OSError as exc:
                raise ValidationError(f"The host does not resolve: {exc}", code="dns") from None
        return url

    def clean_secret(self) -> str:
        secret = self.cleaned_data["secret"] or self.saved_secret
        if secret and len(secret) < MIN_SECRET_CHARS:
            raise ValidationError(f"Use at least {MIN_SECRET_CHARS} characters.", code="short")
        return secret

    def clean_emails(self) -> str:
        addresses = self.cleaned_data["emails"].replace("\n", ",").split(",")
        addresses = [address.strip() for address in addresses if address.strip()]
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                raise ValidationError(
                    f"{address!r} is not an e-mail address.", code="invalid"
                ) from None
        return ", ".join(addresses)

    def clean(self) -> dict:
        data = super().clean()
        if data.get("webhook_url") and not data.get("secret") and "secret" not in self.errors:
            self.add_error("secret", "A webhook needs a secret to sign its bodies with.")
        return data
