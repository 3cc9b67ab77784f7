from tests.helpers import pd_event


async def test_probe(http, service, http_base, dead_letters, stored):
    big = pd_event(service["key"], custom_details={"pad": "x" * 600_000})
    r = await http.post("/v2/enqueue", json=big)
    print("CL", r.status_code, r.text[:300])
    import json

    data = json.dumps(big).encode()

    async def gen():
        for i in range(0, len(data), 16384):
            yield data[i : i + 16384]

    r = await http.post("/v2/enqueue", content=gen(), headers={"content-type": "application/json"})
    print("chunked", r.status_code, r.request.headers.get("transfer-encoding"), r.text[:300])
    for path in [
        "/api/v1/integrations/alertmanager/" + service["key"],
        "/api/v1/incidents/x/notes",
    ]:
        r = await http.post(path, content=b'{"a":', headers={"content-type": "application/json"})
        print(path, r.status_code, r.text)
    r = await http.post("/api/v1/incidents/x/reassign", json={})
    print(r.status_code, r.text)
    r = await http.get("/api/v1/incidents", params={"limit": "abc"})
    print(r.status_code, r.text)
    m = await dead_letters.mark()
    print("mark", m, await dead_letters.since(0), await stored(service["id"]))
