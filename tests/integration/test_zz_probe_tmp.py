import grpc
from proto import incidents_pb2, incidents_pb2_grpc, ingestion_pb2, ingestion_pb2_grpc
async def test_show(grpc_channel, service):
    inc = incidents_pb2_grpc.IncidentServiceStub(grpc_channel)
    ing = ingestion_pb2_grpc.AlertIngestionStub(grpc_channel)
    calls = {
     "big": inc.GetIncident(incidents_pb2.GetIncidentRequest(id="99999999999999999999")),
     "nul": inc.GetIncident(incidents_pb2.GetIncidentRequest(id="a\x00b")),
     "naive": inc.ListIncidents(incidents_pb2.ListIncidentsRequest(since="2024-01-01T00:00:00")),
     "neg offset": inc.ListIncidents(incidents_pb2.ListIncidentsRequest(offset=-1)),
     "empty id": inc.GetIncident(incidents_pb2.GetIncidentRequest(id="")),
     "raw deep": ing.SendRaw(ingestion_pb2.RawAlert(format="generic", integration_key=service["key"], body=b'{"a":' + b"["*100000 + b"]"*100000 + b"}")),
     "raw big": ing.SendRaw(ingestion_pb2.RawAlert(format="generic", integration_key=service["key"], body=b'{"summary":"' + b"x"*600000 + b'"}')),
     "event ts": ing.SendEvent(ingestion_pb2.Event(routing_key=service["key"], event_action="trigger", summary="s", source="x", severity="info", timestamp="nope")),
     "event deep details": ing.SendEvent(ingestion_pb2.Event(routing_key=service["key"], event_action="trigger", summary="s", source="x", severity="info", custom_details_json='{"a":' + "["*100000 + "]"*100000 + "}")),
    }
    for name, c in calls.items():
        try:
            r = await c; print(name, "OK", r)
        except grpc.aio.AioRpcError as e:
            print(name, e.code(), (e.details() or "")[:150])
