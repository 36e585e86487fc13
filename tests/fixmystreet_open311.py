"""FixMyStreet's Open311 client (perllib/Open311.pm in mysociety/fixmystreet), its logic in Python over
Flask's test client: what it sends and how it reads the answers, so our tests talk to us as it does.

Followed step by step: `_request` (form-encoded POST, repeated keys for lists, jurisdiction_id on every
call, api_key on POSTs only), `_populate_service_request_params` (the non-UK description
"title\\n\\ndetail\\n\\nurl\\n", `split_name`, `Utils::truncate_coordinate`, media_url, attribute[...]
from the report's extra fields, attribute[uprn]), `send_service_request` (the id is
`$obj->{request}->[0]->{service_request_id}` and must be a plain value, not a hash), `_process_error`,
and `_get_xml_object`: XML::Simple with ForceArray and GroupTags on the spec's list elements, KeyAttr {}
and SuppressEmpty undef (an empty element reads as undef, here None)."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urlencode

GROUP_TAGS = {"services": "service", "attributes": "attribute", "values": "value", "service_requests": "request",
              "errors": "error", "service_request_updates": "request_update", "groups": "group"}
FORCE_ARRAY = set(GROUP_TAGS.values())


def _simple(element: ET.Element):
    """One element as XML::Simple reads it (no attributes in GeoReport documents)."""
    children = list(element)
    if not children:
        text = element.text or ""
        return text if text.strip() else None  # SuppressEmpty => undef (whitespace only counts as empty)
    value: dict = {}
    for child in children:
        item = _simple(child)
        if child.tag in GROUP_TAGS and isinstance(item, dict) and set(item) == {GROUP_TAGS[child.tag]}:
            item = item[GROUP_TAGS[child.tag]]  # GroupTags: <attributes><attribute/>…</attributes> -> [...]
        if child.tag in FORCE_ARRAY:
            value.setdefault(child.tag, []).append(item)
        elif child.tag in value:  # XML::Simple turns a repeated element into a list
            value[child.tag] = value[child.tag] if isinstance(value[child.tag], list) else [value[child.tag]]
            value[child.tag].append(item)
        else:
            value[child.tag] = item
    return value


def get_xml_object(xml: bytes | str):
    """`_get_xml_object`: the document's root content as XML::Simple gives it, None when it does not parse."""
    try:
        return _simple(ET.fromstring(xml))
    except ET.ParseError:
        return None


def split_name(name: str) -> tuple[str, str]:
    r"""`split_name`: /(\S+)(?:\.?\s+(.+))?/, the first word and the rest."""
    words = (name or "").split(None, 1)
    if not words:
        return "", ""
    return words[0], (words[1] if len(words) > 1 else "")


def truncate_coordinate(value: float) -> str:
    """`Utils::truncate_coordinate`: six decimals, trailing zeros (and a bare dot) dropped."""
    out = f"{value:0.6f}"
    return out.rstrip("0").rstrip(".") if "." in out else out


class Open311:
    """`Open311->new(endpoint, jurisdiction, api_key)` over a Flask test client."""

    endpoints = {"services": "services.xml", "requests": "requests.xml"}

    def __init__(self, client, endpoint: str = "/open311/v2/", jurisdiction: str = "", api_key: str = ""):
        self.client, self.endpoint, self.jurisdiction, self.api_key = client, endpoint, jurisdiction, api_key
        self.success, self.error, self.sent = False, "", []

    def _request(self, method: str, path: str, params: dict | None = None) -> str | None:
        params = dict(params or {})
        if self.jurisdiction:
            params["jurisdiction_id"] = self.jurisdiction
        if method == "POST" and self.api_key:
            params["api_key"] = self.api_key
        pairs = [(k, item) for k, v in params.items() for item in (v if isinstance(v, list) else [v])]
        body = urlencode(pairs)  # HTTP::Request::Common: application/x-www-form-urlencoded, repeated keys
        url = self.endpoint + path
        if method == "GET":
            response = self.client.get(url + ("?" + body if body else ""))
        else:
            response = self.client.post(url, data=body, content_type="application/x-www-form-urlencoded")
        self.sent.append((method, url, body))
        self.last_response = response
        if 200 <= response.status_code < 300:
            self.success = True
            return response.get_data(as_text=True)
        self.success = False
        self.error = f"request failed: {response.status}\nerror: {self.process_error(response.get_data(as_text=True))}\n"
        return None

    def process_error(self, text: str) -> str:
        """`_process_error`: "code: description" lines, or 'unknown error'."""
        obj = get_xml_object(text)
        message = ""
        if isinstance(obj, dict) and "error" in obj:
            for error in obj["error"]:
                message += f"{error.get('code') or '???'}: {error.get('description') or 'unknown error'}\n"
        return message or "unknown error"

    def get_service_list(self):
        text = self._request("GET", self.endpoints["services"])
        return get_xml_object(text) if text else None

    def get_service_meta_info(self, service_id: str):
        return get_xml_object(self._request("GET", f"services/{service_id}.xml") or "")

    def get_service_requests(self, args: dict | None = None):
        args = dict(args or {})
        params = {}
        if args.get("report_ids"):
            params["service_request_id"] = ",".join(args.pop("report_ids"))
        params.update(args)
        obj = get_xml_object(self._request("GET", self.endpoints["requests"], params) or "")
        return obj.get("request") if isinstance(obj, dict) else None

    def populate_service_request_params(self, problem: dict, extra: dict, service_code: str) -> dict:
        """`_populate_service_request_params` for a report outside the UK with the default settings
        (extended_description, always_send_latlong)."""
        description = f"{problem['title']}\n\n{problem['detail']}\n\n{extra['url']}\n"
        first, last = split_name(problem["name"])
        params = {"description": description, "service_code": service_code, "first_name": first, "last_name": last}
        if problem.get("phone"):
            params["phone"] = problem["phone"]
        if problem.get("email"):
            params["email"] = problem["email"]
        if extra.get("account_id") is not None:
            params["account_id"] = extra["account_id"]
        params["lat"] = truncate_coordinate(problem["latitude"])
        params["long"] = truncate_coordinate(problem["longitude"])
        if extra.get("image_url"):
            params["media_url"] = extra.get("all_image_urls") if extra.get("multi_photos") else extra["image_url"]
        for attr in problem.get("extra_fields", []):
            name = attr["name"]
            if name in ("first_name", "last_name"):
                if attr.get("value"):
                    params[name] = attr["value"]
                if name == "first_name":
                    continue
            params[f"attribute[{name.replace('fms_extra_', '', 1)}]"] = attr["value"]
        if problem.get("uprn"):
            params["attribute[uprn]"] = problem["uprn"]
        return params

    def send_service_request(self, problem: dict, extra: dict, service_code: str):
        """`send_service_request`: the new request's id, or 0 when it failed or could not be read."""
        params = self.populate_service_request_params(problem, extra, service_code)
        response = self._request("POST", self.endpoints["requests"], params)
        if response:
            obj = get_xml_object(response)
            if isinstance(obj, dict) and obj.get("request"):
                request_id = obj["request"][0].get("service_request_id")
                if request_id and not isinstance(request_id, (dict, list)):
                    return request_id
        return 0
