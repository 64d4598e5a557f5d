"""The native trace format in the OpenAPI document, generated from the msgspec structs."""

import msgspec
from drf_spectacular.extensions import OpenApiAuthenticationExtension

from traces.schema import TraceDoc

REF_TEMPLATE = "#/components/schemas/{name}"
NATIVE_TRACE_REF = {"$ref": REF_TEMPLATE.format(name="TraceDoc")}


def add_native_schemas(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: add TraceDoc and StepDoc as components."""
    _, components = msgspec.json.schema_components((TraceDoc,), ref_template=REF_TEMPLATE)
    result.setdefault("components", {}).setdefault("schemas", {}).update(components)
    return result


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Describes ``Authorization: Bearer <token>`` in the schema."""

    target_class = "traces.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema) -> dict:
        return {"type": "http", "scheme": "bearer", "description": "A token from create_token."}
