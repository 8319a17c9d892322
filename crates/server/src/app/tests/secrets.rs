//! Core v1 Secrets through the API: CRUD, `stringData`, validation, Tables, and the store on
//! disk without plaintext; Repository `secretRef` readiness and URL credentials.

use super::*;

const SECRETS: &str = "/api/v1/namespaces/default/secrets";
const PASSWORD: &str = "pa55-w0rd-never-shown";

fn basic_auth(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "type": "kubernetes.io/basic-auth",
        "stringData": {"username": "porch", "password": PASSWORD},
    })
}

/// Every file below `dir`, read whole.
fn all_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(all_bytes(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.extend(bytes);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn secrets_crud_with_string_data_and_no_plaintext_at_rest() {
    let f = Fixture::new().await;
    let created = f.post(SECRETS, &basic_auth("creds")).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["kind"], "Secret");
    assert_eq!(created.body["apiVersion"], "v1");
    assert_eq!(created.body["type"], "kubernetes.io/basic-auth");
    assert!(created.body.get("stringData").is_none(), "{}", created.body);
    let encoded = "cGE1NS13MHJkLW5ldmVyLXNob3du"; // base64 of PASSWORD
    assert_eq!(created.body["data"]["password"], encoded);
    assert!(!created.body["metadata"]["resourceVersion"].as_str().unwrap_or("").is_empty());

    let again = f.post(SECRETS, &basic_auth("creds")).await;
    check_status(&again, 409, "AlreadyExists", "secrets \"creds\" already exists");

    let got = f.get(&format!("{SECRETS}/creds")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body["data"], created.body["data"]);

    let list = f.get(SECRETS).await;
    assert_eq!(list.body["kind"], "SecretList");
    assert_eq!(names(&list.body), ["creds"]);
    let all = f.get("/api/v1/secrets").await;
    assert_eq!(names(&all.body), ["creds"]);

    let table = f.send(Method::GET, SECRETS, &[(header::ACCEPT, TABLE)], Body::empty()).await;
    assert_eq!(table.body["rows"][0]["cells"][0], "creds", "{}", table.body);
    assert_eq!(table.body["rows"][0]["cells"][1], "kubernetes.io/basic-auth");
    assert_eq!(table.body["rows"][0]["cells"][2], "2");

    // A merge patch of stringData replaces the value, and the type cannot change.
    let merge = [(header::CONTENT_TYPE, "application/merge-patch+json")];
    let patched = f
        .send(
            Method::PATCH,
            &format!("{SECRETS}/creds"),
            &merge,
            json!({"stringData": {"password": "other"}}).to_string(),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["data"]["password"], "b3RoZXI=");
    let retype =
        f.send(Method::PATCH, &format!("{SECRETS}/creds"), &merge, r#"{"type":"Opaque"}"#).await;
    check_status(
        &retype,
        422,
        "Invalid",
        "Secret \"creds\" is invalid: type: Invalid value: field is immutable",
    );

    let put_back = f.put(&format!("{SECRETS}/creds"), &basic_auth("creds")).await;
    assert_eq!(put_back.status, StatusCode::OK, "{}", put_back.body);

    let on_disk = all_bytes(f.dir.path());
    assert!(!on_disk.is_empty());
    assert!(!contains(&on_disk, PASSWORD), "plaintext password on disk");
    assert!(!contains(&on_disk, encoded), "base64 password on disk");

    let deleted = f.send(Method::DELETE, &format!("{SECRETS}/creds"), &[], Body::empty()).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    let gone = f.get(&format!("{SECRETS}/creds")).await;
    check_status(&gone, 404, "NotFound", "secrets \"creds\" not found");
}

#[tokio::test]
async fn secrets_are_validated_as_the_kube_apiserver_does() {
    let f = Fixture::new().await;
    let cases = [
        (json!({"metadata": {"name": "a"}, "type": "kubernetes.io/basic-auth"}), "data[username]"),
        (
            json!({"metadata": {"name": "b"}, "type": "kubernetes.io/ssh-auth"}),
            "data[ssh-privatekey]",
        ),
        (
            json!({"metadata": {"name": "c"}, "type": "kubernetes.io/tls", "stringData": {"tls.crt": "x"}}),
            "data[tls.key]",
        ),
        (json!({"metadata": {"name": "d"}, "stringData": {"bad/key": PASSWORD}}), "data[bad/key]"),
        (json!({"metadata": {"name": "e"}, "data": {"k": "%%%"}}), "data[k]"),
        (json!({"metadata": {"name": "Bad_Name"}}), "metadata.name"),
    ];
    for (body, field) in cases {
        let answer = f.post(SECRETS, &body).await;
        assert_eq!(answer.status.as_u16(), 422, "{body}: {}", answer.body);
        assert_eq!(answer.body["details"]["causes"][0]["field"], field, "{}", answer.body);
        assert_eq!(answer.body["details"]["kind"], "Secret", "{}", answer.body);
        assert!(!answer.body.to_string().contains(PASSWORD), "{}", answer.body);
    }
    let strict = f
        .post(
            &format!("{SECRETS}?fieldValidation=Strict"),
            &json!({"metadata": {"name": "s"}, "spec": {}}),
        )
        .await;
    assert_eq!(strict.status.as_u16(), 400, "{}", strict.body);
    let discovery = f.get("/api/v1").await;
    assert_eq!(discovery.body["resources"][0]["name"], "secrets", "{}", discovery.body);
}

#[tokio::test]
async fn repository_secret_ref_and_url_credentials() {
    let f = Fixture::new().await;
    let bare = f.bare("private");
    let mut repo = repository("private", &bare);
    repo["spec"]["git"]["secretRef"] = json!({"name": "missing"});
    let created = f.post(REPOS, &repo).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let ready = &created.body["status"]["conditions"][0];
    assert_eq!(ready["status"], "False", "{}", created.body);
    assert_eq!(
        ready["message"],
        "failed to obtain git credentials: secret \"default/missing\" not found"
    );

    // A local remote ignores credentials: with the Secret present the next open is Ready.
    let answer = f.post(SECRETS, &basic_auth("present")).await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let mut repo = repository("withsecret", &f.bare("withsecret"));
    repo["spec"]["git"]["secretRef"] = json!({"name": "present"});
    let created = f.post(REPOS, &repo).await;
    assert_eq!(created.body["status"]["conditions"][0]["status"], "True", "{}", created.body);
    assert!(!created.body.to_string().contains(PASSWORD));

    let mut repo = repository("inurl", &bare);
    repo["spec"]["git"]["repo"] = json!(format!("https://porch:{PASSWORD}@example.com/r.git"));
    let refused = f.post(REPOS, &repo).await;
    assert_eq!(refused.status.as_u16(), 422, "{}", refused.body);
    let text = refused.body.to_string();
    assert!(text.contains("secretRef") && !text.contains(PASSWORD), "{text}");
}
