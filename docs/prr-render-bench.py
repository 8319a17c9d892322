#!/usr/bin/env python3
# Usage: veranda serve --data-dir D --listen 127.0.0.1:0 & ; git init --bare -b main R.git;
#        MODE=one|all python3 docs/prr-render-bench.py D/kubeconfig /abs/path/R.git
# Times PackageRevisionResources updates with a 100-resource set-namespace + set-labels +
# apply-replacements pipeline against a running veranda (keep-alive HTTPS, medians).
import http.client, json, ssl, statistics, sys, time, base64, re, os
kc = open(sys.argv[1]).read()
server = re.search(r"server: https://([^:]+):(\d+)", kc)
token = re.search(r"token: (\S+)", kc).group(1)
CA_FILE = os.path.join(os.path.dirname(os.path.abspath(sys.argv[1])), "bench-ca.crt")
ca = base64.b64decode(re.search(r"certificate-authority-data: (\S+)", kc).group(1))
open(CA_FILE, "wb").write(ca)
ctx = ssl.create_default_context(cafile=CA_FILE)
conn = http.client.HTTPSConnection(server.group(1), int(server.group(2)), context=ctx)
H = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
def call(method, path, body=None):
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=H)
    r = conn.getresponse(); data = r.read()
    if r.status >= 300: raise SystemExit(f"{method} {path}: {r.status} {data[:300]}")
    return json.loads(data)
base = "/apis/porch.kpt.dev/v1alpha1/namespaces/default"
call("POST", "/apis/config.porch.kpt.dev/v1alpha1/namespaces/default/repositories",
     {"apiVersion": "config.porch.kpt.dev/v1alpha1", "kind": "Repository", "metadata": {"name": "b"},
      "spec": {"git": {"repo": sys.argv[2], "createBranch": True}}})
call("POST", base + "/packagerevisions", {"apiVersion": "porch.kpt.dev/v1alpha1", "kind": "PackageRevision",
     "spec": {"repository": "b", "packageName": "p", "workspaceName": "w"}})
kptfile = """apiVersion: kpt.dev/v1
kind: Kptfile
metadata:
  name: p
pipeline:
  mutators:
  - image: set-namespace:v0.4.1
    configMap:
      namespace: prod
  - image: set-labels:v0.2.0
    configMap:
      team: blue
  - image: apply-replacements:v0.1.1
    configPath: replacements.yaml
"""
repl = """apiVersion: fn.kpt.dev/v1alpha1
kind: ApplyReplacements
metadata:
  name: r
  annotations:
    config.kubernetes.io/local-config: "true"
replacements:
- source:
    kind: ConfigMap
    name: cm-0
    fieldPath: data.value
  targets:
  - select:
      kind: ConfigMap
    fieldPaths:
    - data.copied
"""
MODE = os.environ.get("MODE", "all")
def resources(gen):
    res = {"Kptfile": kptfile, "replacements.yaml": repl}
    for i in range(100):
        value = gen if (MODE == "all" or i == 50) else 0
        res[f"cm-{i}.yaml"] = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i} # resource {i}\ndata:\n  value: v{value}\n  copied: x\n"
    return res
times = []
for gen in range(32):
    prr = call("GET", base + "/packagerevisionresources/b.p.w")
    prr["spec"]["resources"] = resources(gen)
    t = time.perf_counter()
    out = call("PUT", base + "/packagerevisionresources/b.p.w", prr)
    times.append((time.perf_counter() - t) * 1000)
    assert "namespace: prod" in out["spec"]["resources"]["cm-5.yaml"], out["spec"]["resources"]["cm-5.yaml"]
    assert f"value: v{gen}" in out["spec"]["resources"]["cm-50.yaml"]
times = times[2:]
print(f"[{MODE} files change] PRR update with render (100 resources, 3 functions): median {statistics.median(times):.1f} ms, p90 {sorted(times)[int(len(times)*0.9)]:.1f} ms, n={len(times)}")
