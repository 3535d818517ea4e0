"""Seeds the metadata benchmark's project through the REST API (see
bench-metadata.sh) on one keep-alive connection, and prints the project id.

usage: python3 bench-metadata-seed.py BASE_URL ACCESS_TOKEN
"""
import http.client
import json
import sys
import urllib.parse

base, token = sys.argv[1], sys.argv[2]
url = urllib.parse.urlparse(base)
conn = http.client.HTTPConnection(url.hostname, url.port)


def call(method, path, body=None, bearer=None):
    headers = {"Content-Type": "application/json"}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    if resp.status >= 300:
        raise SystemExit(f"{method} {path}: {resp.status} {data[:300]!r}")
    return json.loads(data) if data else None


bearer = call("POST", "/rest/oauth/token", {"refresh_token": token})["access_token"]
pid = call("POST", "/rest/projects", {"title": "Metadata benchmark"}, bearer)["id"]
md = f"/rest/projects/{pid}/md"


def link(kind, name):
    return f"/rest/projects/$projectId/md/{kind}?name={name}"


for i in range(4000):
    call("POST", f"{md}/metrics", {"name": f"metric_{i:05}", "type": "metric", "content": {
        "type": "function_sum", "content": [{"type": "property", "value": f"baskets.amount_{i}"}]}}, bearer)
for i in range(2000):
    call("POST", f"{md}/indicators", {"name": f"indicator_{i:05}", "type": "indicator", "title": f"Indicator {i}", "description": "Bench",
                                      "content": {"metric": link("metrics", f"metric_{i:05}"), "scale": "standard"}}, bearer)
for i in range(2000):
    call("POST", f"{md}/dashboards", {"name": f"dashboard_{i:05}", "type": "dashboard", "content": {"blockRows": []}}, bearer)
# 200 of the views are personal: made through savedViews (scope personal) by the same account.
for i in range(2000):
    view = {"name": f"view_{i:05}", "type": "view", "title": f"View {i:05}", "description": "Bench",
            "content": {"dashboard": link("dashboards", f"dashboard_{i:05}")}}
    if i % 10 == 0:
        call("POST", f"/rest/projects/{pid}/savedViews", {"view": view, "scope": "personal"}, bearer)
    else:
        call("POST", f"{md}/views", view, bearer)
call("POST", f"{md}/projectSettings", {"name": "settings", "type": "projectSettings", "content": {
    "geoSearchProviders": ["Mapbox"], "defaultViews": [link("views", f"view_{i:05}") for i in range(1, 2000, 40)]}}, bearer)
print(pid)
