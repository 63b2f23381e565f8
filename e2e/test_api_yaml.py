"""API bodies in YAML (Content-Type application/yaml, text/yaml,
application/x-yaml): the same objects as JSON, the same validation; a
malformed or multi-document body is a 400 that says where, and writes
nothing. The UI's deploy editor sends YAML this way."""
import json

import harness

PREFIX = "/corral"

REQUEST = """\
# a comment, as in a manifest
id: yamlweb
requestType: WORKER
instances: 2
owners: [ops@example.com]
"""

DEPLOY = """\
deploy:
  requestId: yamlweb
  id: v1
  command: sleep 1000
  resources: {cpus: 0.1, memoryMb: 32}
message: from YAML
"""


class ApiYaml(harness.TestCase):
    def setUp(self):
        super().setUp()
        self.cluster.etcd()
        self.api = self.cluster.corrald(args=["--api-only"])

    def post(self, path, text, ctype="application/yaml"):
        st, _, raw = harness.http("POST", self.api + path, text, {"Content-Type": ctype})
        return st, (json.loads(raw) if raw.strip() else None)

    def test_yaml_bodies(self):
        st, body = self.post("/api/requests", REQUEST)
        self.assertEqual(st, 200, body)
        self.assertEqual(body["request"]["instances"], 2)
        stored = self.cluster.etcd_get_json(PREFIX + "/requests/yamlweb")
        self.assertEqual(stored["owners"], ["ops@example.com"])

        st, body = self.post("/api/deploys", DEPLOY, "text/yaml; charset=utf-8")
        self.assertEqual(st, 200, body)
        self.assertEqual(self.cluster.etcd_get_json(PREFIX + "/deploys/yamlweb/v1")["command"],
                         "sleep 1000")

        # Validation is the JSON path's: a bad value is named.
        st, body = self.post("/api/deploys", DEPLOY.replace("v1", "v2").replace("0.1", "-1"),
                             "application/x-yaml")
        self.assertEqual(st, 400, body)
        self.assertIn("cpus", body["message"])
        self.assertIsNone(self.cluster.etcd_get_json(PREFIX + "/deploys/yamlweb/v2"))

    def test_bad_yaml_changes_nothing(self):
        before = self.cluster.etcdctl("get", PREFIX, "--prefix", "--keys-only")
        st, body = self.post("/api/requests", "id: broken\nrequestType: [WORKER\n")
        self.assertEqual(st, 400, body)
        self.assertIn("malformed YAML", body["message"])
        self.assertRegex(body["message"], r"body:\d+:\d+")  # says where

        st, body = self.post("/api/requests", REQUEST + "---\n" + REQUEST)
        self.assertEqual(st, 400, body)
        self.assertIn("one YAML document", body["message"])

        st, body = self.post("/api/requests", "- a\n- list\n")
        self.assertEqual(st, 400, body)
        self.assertIn("mapping", body["message"])
        self.assertEqual(self.cluster.etcdctl("get", PREFIX, "--prefix", "--keys-only"), before)

        # JSON stays JSON: the same text with a JSON type is not read as YAML.
        st, body = self.post("/api/requests", REQUEST, "application/json")
        self.assertEqual(st, 400, body)
        self.assertIn("malformed JSON", body["message"])


if __name__ == "__main__":
    harness.main()
