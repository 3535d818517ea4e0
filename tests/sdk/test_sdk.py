"""Drives a live Locus server through the official CleverMaps Python client
(cm-python-sdk from PyPI), the way a user of that client would.

usage: python test_sdk.py SERVER_URL ACCESS_TOKEN OTHER_ACCOUNT_ID OTHER_EMAIL OTHER_TOKEN

ACCESS_TOKEN is a personal access token of an account with no projects yet;
OTHER_* name a second account that the test adds to a project (and, with its
own token, queries as a viewer restricted by a data permission).
Ends with the line 'N passed, M failed' and exits non-zero on any failure.
"""
import sys
import traceback

import requests
from cm_python_sdk.sdk import Sdk

SERVER, TOKEN, OTHER_ID, OTHER_EMAIL, OTHER_TOKEN = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
PROJECTS = 105  # more than one page of the default page size (100)
UPDATES = 110  # audit events, likewise

state = {}
results = []


def check(name):
    def run(fn):
        try:
            fn()
            results.append((name, None))
            print(f"ok      {name}")
        except Exception as e:  # noqa: BLE001 - report every failure and go on
            results.append((name, e))
            print(f"FAILED  {name}: {e!r}")
            traceback.print_exc()
        return fn
    return run


@check("the token exchange gives a bearer")
def _():
    state["sdk"] = Sdk(TOKEN, SERVER)
    assert state["sdk"].client.bearer_token, "no access_token"


@check("a wrong token raises AccessTokenException")
def _():
    from cm_python_sdk.exceptions import AccessTokenException
    try:
        Sdk("lpat_AAAAAAAAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB", SERVER)
    except AccessTokenException:
        return
    raise AssertionError("no AccessTokenException")


@check("create_project makes projects in the caller's organization")
def _():
    sdk = state["sdk"]
    orgs = requests.get(f"{SERVER}/rest/organizations", headers={"Authorization": f"Bearer {sdk.client.bearer_token}"}).json()
    org = orgs["content"][0]["id"]
    created = [sdk.projects.projects.create_project(org, f"SDK project {i:03}", "made by cm-python-sdk") for i in range(PROJECTS)]
    assert all(p["organizationId"] == org for p in created)
    state["created"] = [p["id"] for p in created]


@check("list_projects follows next links across pages")
def _():
    listed = state["sdk"].projects.projects.list_projects()
    ids = [p["id"] for p in listed]
    assert len(ids) == PROJECTS, len(ids)
    assert len(set(ids)) == PROJECTS, "no project twice"
    assert set(ids) == set(state["created"])


@check("get_project_by_id gives the services the SDK builds URLs from")
def _():
    pid = state["created"][0]
    detail = state["sdk"].projects.project.get_project_by_id(pid)
    assert detail["id"] == pid and detail["title"] == "SDK project 000"
    assert detail["services"]["md"] == f"/rest/projects/{pid}/md", detail["services"]
    assert detail["services"]["dwh"].startswith(f"/rest/projects/{pid}/dwh/")
    assert detail["membership"]["role"] == "ADMIN"


@check("open() builds a project client (one project read per helper)")
def _():
    project = state["sdk"].open(state["created"][0])
    assert project is not None


@check("list_members, add_new_member, list_members again")
def _():
    sdk, pid = state["sdk"], state["created"][1]
    before = sdk.projects.members.list_members(pid)
    assert [m["role"] for m in before] == ["ADMIN"], before
    added = sdk.projects.members.add_new_member(pid, OTHER_ID, role="VIEWER", status="ENABLED")
    assert added["accountId"] == OTHER_ID and added["role"] == "VIEWER" and added["status"] == "ENABLED", added
    after = sdk.projects.members.list_members(pid)
    assert sorted(m["accountId"] for m in after) == sorted([before[0]["accountId"], OTHER_ID])


@check("find_account answers 204 for an account and raises for none")
def _():
    sdk = state["sdk"]
    assert sdk.accounts.accounts.find_account(OTHER_EMAIL) == 204
    try:
        sdk.accounts.accounts.find_account("nobody-here@example.org")
    except requests.HTTPError as e:
        assert e.response.status_code == 404
        return
    raise AssertionError("no error for an unknown e-mail")


@check("get_audit_log reads the project's events across several pages")
def _():
    sdk, pid = state["sdk"], state["created"][1]
    project = sdk.open(pid)
    # More events than one page of the default size (100) holds.
    for i in range(UPDATES):
        role = "EDITOR" if i % 2 == 0 else "VIEWER"
        members = sdk.projects.members.list_members(pid)
        other = next(m for m in members if m["accountId"] == OTHER_ID)
        r = requests.put(f"{SERVER}/rest/projects/{pid}/members/{other['id']}", json={"role": role, "status": "ENABLED"},
                         headers={"Authorization": f"Bearer {sdk.client.bearer_token}"})
        r.raise_for_status()
    requests.get(f"{SERVER}/rest/auditlog?projectId={pid}", headers={"Authorization": f"Bearer {sdk.client.bearer_token}"}).raise_for_status()
    events = project.auditlog.auditlog.get_audit_log(["update_membership", "create_membership"])
    kinds = [e["eventType"] for e in events]
    assert kinds.count("update_membership") == UPDATES, kinds.count("update_membership")
    assert kinds.count("create_membership") == 1
    assert len({e["eventId"] for e in events}) == len(events), "no event twice"
    everything = project.auditlog.auditlog.get_audit_log([])
    assert len(everything) == UPDATES + 2, len(everything)  # with create_project and create_membership


def link(kind, name):
    return f"/rest/projects/$projectId/md/{kind}?name={name}"


# One object per type the issue names, created in an order that lets links resolve.
METADATA = [
    ("datasets", "datasets", {"name": "shops", "type": "dataset", "title": "Shops", "ref": {
        "type": "dwh", "subtype": "basic", "primaryKey": "shop_id",
        "properties": [{"name": "shop_id", "column": "shop_id", "type": "integer"}]}}),
    ("metrics", "metrics", {"name": "turnover", "type": "metric", "content": {
        "type": "function_sum", "content": [{"type": "property", "value": "shops.turnover"}]}}),
    ("indicators", "indicators", {"name": "turnover_indicator", "type": "indicator", "title": "Turnover", "description": "Turnover",
                                  "content": {"metric": link("metrics", "turnover"), "scale": "standard"}}),
    ("dashboards", "dashboards", {"name": "main_dashboard", "type": "dashboard", "content": {"blockRows": []}}),
    ("views", "views", {"name": "shops_view", "type": "view", "title": "Shops", "description": "Shops",
                        "content": {"dashboard": link("dashboards", "main_dashboard")}}),
]


@check("metadata: create, list, get_by_name with its ETag, update, delete for datasets, metrics, indicators, dashboards, views")
def _():
    project = state["sdk"].open(state["created"][2])
    md = project.metadata
    helpers = {"datasets": md.datasets, "metrics": md.metrics, "indicators": md.indicators, "dashboards": md.dashboards, "views": md.views}
    for kind, _, body in METADATA:
        created = helpers[kind].create(body)
        assert created["name"] == body["name"] and len(created["id"]) == 16 and created["version"] == 1, created
    for kind, _, body in METADATA:
        helper = helpers[kind]
        assert [o["name"] for o in helper.list()] == [body["name"]], kind
        resp = helper.get_by_name(body["name"])
        assert resp.headers["ETag"] == '"1"', resp.headers
        updated = helper.update(body["name"], {"description": f"updated {kind}"})
        assert updated["version"] == 2 and updated["description"] == f"updated {kind}", updated
    # Delete in the reverse order: nothing may go while something links to it.
    try:
        helpers["dashboards"].delete("main_dashboard")
    except requests.HTTPError as e:
        assert e.response.status_code == 409, e.response.text
    else:
        raise AssertionError("a dashboard a view links to was deleted")
    for kind, _, body in reversed(METADATA):
        assert helpers[kind].delete(body["name"]) == 204, kind
        assert helpers[kind].list() == [], kind


@check("a public access token opens a project read-only through the client")
def _():
    sdk, pid = state["sdk"], state["created"][3]
    md = sdk.open(pid).metadata
    for kind, _, body in METADATA:
        {"datasets": md.datasets, "metrics": md.metrics, "indicators": md.indicators,
         "dashboards": md.dashboards, "views": md.views}[kind].create(body)
    # The account was switched on for public sharing by `locus admin set-anonymous`.
    r = requests.post(f"{SERVER}/rest/projects/{pid}/publicAccessTokens", json={"name": "sdk", "views": ["shops_view"]},
                      headers={"Authorization": f"Bearer {sdk.client.bearer_token}"})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["link"].endswith(f"/public/{pid}#token={created['token']}"), created
    public = Sdk(created["token"], SERVER)
    project = public.open(pid)
    assert [v["name"] for v in project.metadata.views.list()] == ["shops_view"]
    assert [d["name"] for d in project.metadata.dashboards.list()] == ["main_dashboard"]
    assert project.metadata.metrics.list() == [], "only what the allowed view reaches"
    try:
        project.metadata.views.create({"name": "graffiti", "type": "view", "title": "x",
                                       "content": {"dashboard": link("dashboards", "main_dashboard")}})
    except requests.HTTPError as e:
        assert e.response.status_code == 403, e.response.text
    else:
        raise AssertionError("a public visitor created a view")


STORES = {"name": "stores", "type": "dataset", "title": "Stores", "ref": {
    "type": "dwh", "subtype": "basic", "primaryKey": "store_id",
    "properties": [{"name": "store_id", "column": "store_id", "type": "integer"},
                   {"name": "city", "column": "city", "type": "string"},
                   {"name": "turnover", "column": "turnover", "type": "decimal"}]}}


def download(sdk, url):
    r = requests.get(f"{SERVER}{url}", headers={"Authorization": f"Bearer {sdk.client.bearer_token}", "Accept": "text/csv"})
    r.raise_for_status()
    return r.text


def rows(csv_text):
    lines = csv_text.splitlines()
    return lines[0], sorted(lines[1:])


@check("upload_data loads a CSV (full, then incremental) and dump_data dumps it")
def _():
    import tempfile
    sdk, pid = state["sdk"], state["created"][4]
    project = sdk.open(pid)
    project.metadata.datasets.create(STORES)
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        f.write("store_id,city,turnover\n1,Praha,100.5\n2,\"Brno, south\",20\n")
        full = f.name
    job = project.upload_data("stores", "full", full, retry_wait=0.2)
    assert job["status"] == "SUCCEEDED" and job["result"]["rows"] == 2, job
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        f.write("id;city;turnover\n2;Brno;25\n3;Ostrava;\n")
        incremental = f.name
    job = project.upload_data("stores", "incremental", incremental, {"header": True, "separator": ";"}, retry_wait=0.2)
    assert job["status"] == "SUCCEEDED" and job["result"]["rows"] == 3, job
    dumped = project.dump_data("stores")
    assert dumped["status"] == "SUCCEEDED", dumped
    assert rows(download(sdk, dumped["result"]["dumpUrl"])) == (
        "store_id,city,turnover", ["1,Praha,100.5", "2,Brno,25", "3,Ostrava,"]), dumped
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        f.write("store_id,city,turnover\n4,Plzen,lots\n")
        bad = f.name
    job = project.upload_data("stores", "full", bad, retry_wait=0.2)
    assert job["status"] == "FAILED" and "line 2" in job["message"] and "turnover" in job["message"], job
    state["loaded"] = pid


@check("get_job_history lists the caller's jobs of a type across pages")
def _():
    sdk, pid = state["sdk"], state["loaded"]
    me = requests.get(f"{SERVER}/rest/accounts/current", headers={"Authorization": f"Bearer {sdk.client.bearer_token}"}).json()
    history = sdk.open(pid).jobs.job_history.get_job_history("dataPull", me["id"])
    assert len(history) == 3 and all(j["type"] == "dataPull" for j in history), history
    assert [j["status"] for j in history] == ["FAILED", "SUCCEEDED", "SUCCEEDED"], history


@check("clone_project copies the metadata and the data into a new project")
def _():
    sdk, pid = state["sdk"], state["loaded"]
    project = sdk.open(pid)
    org = sdk.projects.project.get_project_by_id(pid)["organizationId"]
    clone_id = project.clone_project(org, "SDK clone")
    assert clone_id != pid
    clone = sdk.open(clone_id)
    assert [d["name"] for d in clone.metadata.datasets.list()] == ["stores"]
    dumped = clone.dump_data("stores")
    assert rows(download(sdk, dumped["result"]["dumpUrl"]))[1] == ["1,Praha,100.5", "2,Brno,25", "3,Ostrava,"], dumped


REGIONS = {"name": "regions", "type": "dataset", "title": "Regions", "ref": {
    "type": "dwh", "subtype": "basic", "primaryKey": "region_id",
    "properties": [{"name": "region_id", "column": "region_id", "type": "integer"},
                   {"name": "name", "column": "name", "type": "string"}]}}
SALES = {"name": "sales", "type": "dataset", "title": "Sales", "ref": {
    "type": "dwh", "subtype": "basic", "primaryKey": "sale_id",
    "properties": [{"name": "sale_id", "column": "sale_id", "type": "integer"},
                   {"name": "region_id", "column": "region_id", "type": "integer", "foreignKey": "regions"},
                   {"name": "channel", "column": "channel", "type": "string"},
                   {"name": "amount", "column": "amount", "type": "decimal"}]}}
REVENUE = {"name": "revenue", "type": "metric", "content": {
    "type": "function_sum", "content": [{"type": "property", "value": "sales.amount"}]}}


def csv_file(text):
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        f.write(text)
        return f.name


@check("query, get_property_values, get_metric_ranges, get_available_datasets, export_to_csv over a star schema")
def _():
    sdk = state["sdk"]
    org = sdk.projects.project.get_project_by_id(state["loaded"])["organizationId"]
    pid = sdk.projects.projects.create_project(org, "SDK star", "queries")["id"]
    project = sdk.open(pid)
    for body in (REGIONS, SALES):
        project.metadata.datasets.create(body)
    project.metadata.metrics.create(REVENUE)
    for name, text in (("regions", "region_id,name\n1,North\n2,South\n3,East\n"),
                       ("sales", "sale_id,region_id,channel,amount\n1,1,web,10\n2,1,shop,5.5\n3,2,web,20\n4,3,shop,1\n5,,web,2\n")):
        job = project.upload_data(name, "full", csv_file(text), retry_wait=0.2)
        assert job["status"] == "SUCCEEDED", job
    got = project.query({"properties": ["regions.name"], "metrics": ["revenue"],
                         "filter_by": [{"property": "sales.channel", "operator": "eq", "value": "web"}]})
    assert got == [{"regions_name": "North", "revenue": 10.0}, {"regions_name": "South", "revenue": 20.0},
                   {"regions_name": None, "revenue": 2.0}], got
    page_by_page = project.query({"properties": ["sales.sale_id"], "metrics": ["revenue"]}, limit=2)
    assert [r["sales_sale_id"] for r in page_by_page] == [1, 2, 3, 4, 5], page_by_page
    assert project.get_property_values("sales.channel") == ["shop", "web"]
    ranges = project.get_metric_ranges({"properties": ["regions.name"], "metrics": ["revenue"]})
    assert ranges == [{"propertyId": "revenue", "min": 1.0, "max": 20.0}], ranges
    assert project.get_available_datasets("revenue") == ["regions", "sales"]
    exported = project.export_to_csv({"query": {"properties": ["regions.name"], "metrics": ["revenue"]},
                                      "filename": "revenue.csv", "format": "csv"})
    assert exported.splitlines() == ["regions_name,revenue", "East,1.0", "North,15.5", "South,20.0", ",2.0"], exported
    state["star"] = pid


@check("a viewer restricted by a data permission sees only its rows through the client")
def _():
    sdk, pid = state["sdk"], state["star"]
    sdk.projects.members.add_new_member(pid, OTHER_ID, "VIEWER")
    r = requests.post(f"{SERVER}/rest/projects/{pid}/md/dataPermissions", headers={"Authorization": f"Bearer {sdk.client.bearer_token}"},
                      json={"name": "north_only", "type": "dataPermission", "content": {
                          "accountId": OTHER_ID, "filters": [{"property": "regions.name", "operator": "eq", "value": "North"}]}})
    r.raise_for_status()
    viewer = Sdk(OTHER_TOKEN, SERVER).open(pid)
    got = viewer.query({"properties": ["sales.channel"], "metrics": ["revenue"]})
    assert got == [{"sales_channel": "shop", "revenue": 5.5}, {"sales_channel": "web", "revenue": 10.0}], got
    assert viewer.get_property_values("regions.name") == ["North"]
    exported = viewer.export_to_csv({"query": {"properties": ["regions.name"], "metrics": ["revenue"]},
                                     "filename": "mine.csv", "format": "csv"})
    assert exported.splitlines() == ["regions_name,revenue", "North,15.5"], exported


@check("query_points: nearest rows and an air isochrone around points, as an admin and as a Location API consumer")
def _():
    sdk, pid = state["sdk"], state["star"]
    project = sdk.open(pid)
    project.metadata.datasets.create({"name": "stops", "type": "dataset", "title": "Stops", "ref": {
        "type": "dwh", "subtype": "geometryPoint", "primaryKey": "stop_id",
        "properties": [{"name": "stop_id", "column": "stop_id", "type": "integer"},
                       {"name": "name", "column": "name", "type": "string"},
                       {"name": "lat", "column": "lat", "type": "latitude"},
                       {"name": "lng", "column": "lng", "type": "longitude"},
                       {"name": "riders", "column": "riders", "type": "integer"}]}})
    project.metadata.metrics.create({"name": "riders", "type": "metric", "content": {
        "type": "function_sum", "content": [{"type": "property", "value": "stops.riders"}]}})
    job = project.upload_data("stops", "full", csv_file(
        "stop_id,name,lat,lng,riders\n1,Mustek,50.0833,14.4240,100\n2,Muzeum,50.0794,14.4307,70\n3,Brno hl.n.,49.1906,16.6128,50\n"),
        retry_wait=0.2)
    assert job["status"] == "SUCCEEDED", job
    result = project.query_points(
        [{"id": "p1", "lat": 50.0810, "lng": 14.4270}],
        [{"type": "nearest", "queryId": "nearest", "dataset": "stops", "options": {"limit": 1},
          "properties": [{"id": "name", "type": "property", "value": "stops.name"}], "filter_by": []},
         {"type": "isochrone", "queryId": "around", "dataset": "stops",
          "options": {"profile": "air", "unit": "distance", "amount": 1000},
          "properties": [{"id": "riders", "type": "metric", "metric": "riders"}], "filter_by": []}],
        retry_wait=0.2)
    assert result["status"] == "SUCCEEDED", result
    point = result["result"]["points"][0]
    assert point["id"] == "p1" and point["queries"]["nearest"][0]["name"] in ("Mustek", "Muzeum"), point
    assert point["queries"]["around"] == [{"riders": 170}], point
    found = project.fulltext_search("stops", "mu")
    assert [h["title"] for h in found] == ["Mustek", "Muzeum"], found
    # The second account, made a Location API consumer of this project: the
    # same client gets aggregates around its points, and no bare property.
    members = sdk.projects.members.list_members(pid)
    other = next(m for m in members if m["accountId"] == OTHER_ID)
    r = requests.put(f"{SERVER}/rest/projects/{pid}/members/{other['id']}",
                     json={"role": "LOCATION_API_CONSUMER", "status": "ENABLED"},
                     headers={"Authorization": f"Bearer {sdk.client.bearer_token}"})
    r.raise_for_status()
    consumer = Sdk(OTHER_TOKEN, SERVER).open(pid)
    around = [{"type": "isochrone", "queryId": "around", "dataset": "stops",
               "options": {"profile": "air", "unit": "distance", "amount": 1000},
               "properties": [{"id": "riders", "type": "metric", "metric": "riders"}]}]
    point = [{"id": "p1", "lat": 50.0810, "lng": 14.4270}]
    result = consumer.query_points(point, [dict(q, filter_by=[]) for q in around], retry_wait=0.2)
    assert result["status"] == "SUCCEEDED", result
    # Its data permission (regions of the north) has no path to stops: it sees no row.
    assert result["result"]["points"][0]["queries"]["around"] == [{"riders": None}], result
    headers = {"Authorization": f"Bearer {sdk.client.bearer_token}"}
    listed = requests.get(f"{SERVER}/rest/projects/{pid}/md/dataPermissions", headers=headers)
    listed.raise_for_status()
    for permission in listed.json()["content"]:
        requests.delete(f"{SERVER}/rest/projects/{pid}/md/dataPermissions/{permission['id']}", headers=headers).raise_for_status()
    result = consumer.query_points(point, [dict(q, filter_by=[]) for q in around], retry_wait=0.2)
    assert result["result"]["points"][0]["queries"]["around"] == [{"riders": 170}], result
    try:
        consumer.query_points([{"id": "p1", "lat": 50.0810, "lng": 14.4270}],
                              [{"type": "nearest", "queryId": "nearest", "dataset": "stops", "options": {"limit": 1},
                                "properties": [{"id": "name", "type": "property", "value": "stops.name"}], "filter_by": []}],
                              retry_wait=0.2)
        raise AssertionError("a consumer read a bare property")
    except requests.HTTPError as e:
        assert e.response.status_code == 403 and "stops.name" in e.response.text, e.response.text


failed = sum(1 for _, e in results if e)
print(f"{len(results) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
