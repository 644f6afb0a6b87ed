//! `template.yaml` must declare exactly what the code serves: every route of the route table
//! (with and without `.json`) on the function that owns it, one function per crate, and the
//! table exactly as `cube-auth tables create` builds it.

use std::collections::BTreeSet;
use std::path::PathBuf;

use shared::routes::ROUTES;
use shared::store::schema;
use yaml_rust2::{Yaml, YamlLoader};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn template() -> Yaml {
    let text = std::fs::read_to_string(root().join("template.yaml")).expect("read template.yaml");
    YamlLoader::load_from_str(&text).expect("template.yaml parses").remove(0)
}

fn resources(template: &Yaml) -> Vec<(String, Yaml)> {
    template["Resources"]
        .as_hash()
        .expect("Resources")
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_string(), v.clone()))
        .collect()
}

/// (function crate, method, path) for every HttpApi event in the template.
fn template_routes(template: &Yaml) -> BTreeSet<(String, String, String)> {
    let mut routes = BTreeSet::new();
    for (_, resource) in resources(template) {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let code_uri = resource["Properties"]["CodeUri"].as_str().expect("CodeUri");
        let function = code_uri.strip_prefix("functions/").expect("CodeUri is functions/<name>").to_string();
        for (_, event) in resource["Properties"]["Events"].as_hash().expect("Events") {
            if event["Type"].as_str() != Some("HttpApi") {
                assert_eq!(
                    (function.as_str(), event["Type"].as_str()),
                    ("send-mail", Some("DynamoDB")),
                    "only send-mail is not HTTP"
                );
                continue;
            }
            let props = &event["Properties"];
            routes.insert((
                function.clone(),
                props["Method"].as_str().unwrap().to_string(),
                props["Path"].as_str().unwrap().to_string(),
            ));
        }
    }
    routes
}

/// The routes API Gateway needs for the route table: a literal last segment needs its
/// `.json` twin as a separate route; `{param}` already matches `5.json`.
fn expected_routes() -> BTreeSet<(String, String, String)> {
    let mut routes = BTreeSet::new();
    for route in ROUTES {
        routes.insert((route.function.name().to_string(), route.method.to_string(), route.path.to_string()));
        if !route.path.ends_with('}') {
            routes.insert((
                route.function.name().to_string(),
                route.method.to_string(),
                format!("{}.json", route.path),
            ));
        }
    }
    routes
}

#[test]
fn every_route_is_in_the_template_on_its_function_and_nothing_else_is() {
    let declared = template_routes(&template());
    let expected = expected_routes();
    let missing: Vec<_> = expected.difference(&declared).collect();
    let extra: Vec<_> = declared.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing from template: {missing:?}\nnot in the route table: {extra:?}"
    );
}

/// Every (method, path) that `openapi.yaml` documents.
fn openapi_routes() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(root().join("openapi.yaml")).expect("read openapi.yaml");
    let spec = YamlLoader::load_from_str(&text).expect("openapi.yaml parses").remove(0);
    assert_eq!(spec["openapi"].as_str(), Some("3.1.0"));
    let mut routes = BTreeSet::new();
    for (path, item) in spec["paths"].as_hash().expect("paths") {
        for (method, _) in item.as_hash().expect("path item") {
            let method = method.as_str().unwrap();
            if ["get", "put", "post", "delete", "patch", "head", "options"].contains(&method) {
                routes.insert((method.to_uppercase(), path.as_str().unwrap().to_string()));
            }
        }
    }
    routes
}

/// The spec is the contract schemathesis holds the server to, so it must cover exactly the
/// route table (which the template and the local router are held to above).
#[test]
fn the_openapi_spec_documents_every_route_and_nothing_else() {
    let documented = openapi_routes();
    let served: BTreeSet<(String, String)> =
        ROUTES.iter().map(|r| (r.method.to_string(), r.path.to_string())).collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "served but not in openapi.yaml: {undocumented:?}\nin openapi.yaml but not served: {unserved:?}"
    );
}

/// API Gateway throttles every route (the outer abuse layer), the credential and mail routes
/// harder; every throttled route key is one the API serves.
#[test]
fn api_gateway_throttles_every_route_and_the_credential_routes_harder() {
    let template = template();
    let api = &template["Resources"]["HttpApi"]["Properties"];
    let default = &api["DefaultRouteSettings"];
    assert!(!default["ThrottlingRateLimit"].is_badvalue() && !default["ThrottlingBurstLimit"].is_badvalue());
    let served: BTreeSet<String> =
        template_routes(&template).into_iter().map(|(_, method, path)| format!("{method} {path}")).collect();
    let throttled: BTreeSet<String> = api["RouteSettings"]
        .as_hash()
        .expect("RouteSettings")
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    let unknown: Vec<_> = throttled.difference(&served).collect();
    assert!(unknown.is_empty(), "throttling for routes that do not exist: {unknown:?}");
    for route in ["POST /session", "POST /login", "POST /users", "POST /users/password/reset", "POST /password-reset"] {
        for key in [route.to_string(), format!("{route}.json")] {
            assert!(throttled.contains(&key), "{key} is not throttled harder");
        }
    }
    // A profile update can take the current password (API Gateway's `{id}` is the whole
    // segment, `.json` included).
    assert!(throttled.contains("PUT /users/{id}"), "PUT /users/{{id}} is not throttled harder");
}

/// The `LogLevel` parameter reaches the functions: Lambda's `AWS_LAMBDA_LOG_LEVEL` (set from
/// `ApplicationLogLevel`) is what they read first, so that is where it must go.
#[test]
fn the_log_level_parameter_sets_the_application_log_level() {
    let template = template();
    let logging = &template["Globals"]["Function"]["LoggingConfig"];
    // The YAML reader drops the `!Ref` tag and keeps the parameter name.
    assert_eq!(logging["ApplicationLogLevel"].as_str(), Some("LogLevel"), "{logging:?}");
    assert_eq!(logging["LogFormat"].as_str(), Some("JSON"));
    let allowed = template["Parameters"]["LogLevel"]["AllowedValues"].as_vec().expect("AllowedValues");
    for level in allowed {
        let level = level.as_str().unwrap();
        assert_eq!(level, level.to_uppercase(), "Lambda takes upper-case levels");
    }
}

#[test]
fn every_function_crate_is_deployed_and_routed() {
    let crates: BTreeSet<String> = std::fs::read_dir(root().join("functions"))
        .expect("functions/")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut deployed: BTreeSet<String> = template_routes(&template()).into_iter().map(|(f, _, _)| f).collect();
    // send-mail is driven by the table's stream, not by a route.
    assert!(resources(&template()).iter().any(|(name, _)| name == "SendMailFunction"));
    deployed.insert("send-mail".into());
    let mut routed: BTreeSet<String> = ROUTES.iter().map(|r| r.function.name().to_string()).collect();
    let mut dispatched: BTreeSet<String> = cube_auth::router::FUNCTIONS.iter().map(|f| f.name().to_string()).collect();
    routed.insert("send-mail".into());
    dispatched.insert("send-mail".into());
    assert_eq!(crates, deployed, "function crates vs template functions");
    assert_eq!(crates, routed, "function crates vs route table");
    assert_eq!(crates, dispatched, "function crates vs local router");
}

#[test]
fn every_function_may_touch_only_the_table_and_blob_functions_only_the_bucket() {
    let blob_functions = ["create-blob", "complete-blob", "get-blob", "delete-blob"];
    for (name, resource) in resources(&template()) {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let function = resource["Properties"]["CodeUri"].as_str().unwrap().trim_start_matches("functions/").to_string();
        let statements =
            resource["Properties"]["Policies"][0]["Statement"].as_vec().unwrap_or_else(|| panic!("{name}: no policy"));
        for statement in statements {
            let targets: Vec<&str> = match statement["Resource"].as_vec() {
                Some(list) => list.iter().filter_map(|r| r.as_str()).collect(),
                None => statement["Resource"].as_str().into_iter().collect(),
            };
            assert!(!targets.is_empty(), "{name}: a statement without a resource");
            for action in statement["Action"].as_vec().unwrap() {
                let action = action.as_str().unwrap();
                assert!(!action.contains('*'), "{name}: {action}");
                assert_ne!(action, "dynamodb:Scan", "{name}: no Scan on a request path");
                if action.starts_with("sqs:") {
                    assert_eq!(
                        (function.as_str(), targets.as_slice()),
                        ("send-mail", ["MailDeadLetterQueue.Arn"].as_slice())
                    );
                } else if action.starts_with("dynamodb:") {
                    assert!(targets.iter().all(|t| t.contains("Table")), "{name}: {action} on {targets:?}");
                } else {
                    assert!(action.starts_with("s3:"), "{name}: {action}");
                    assert!(blob_functions.contains(&function.as_str()), "{name} has no business with S3");
                    assert!(targets.iter().all(|t| t.contains("BlobBucket")), "{name}: {action} on {targets:?}");
                }
            }
        }
    }
}

#[test]
fn the_bucket_is_private_encrypted_and_accepts_browser_uploads() {
    let template = template();
    let bucket = &template["Resources"]["BlobBucket"]["Properties"];
    let block = &bucket["PublicAccessBlockConfiguration"];
    for setting in ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"] {
        assert_eq!(block[setting].as_bool(), Some(true), "{setting}");
    }
    assert_eq!(bucket["OwnershipControls"]["Rules"][0]["ObjectOwnership"].as_str(), Some("BucketOwnerEnforced"));
    assert!(bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"].as_str().is_some());
    let methods: Vec<&str> = bucket["CorsConfiguration"]["CorsRules"][0]["AllowedMethods"]
        .as_vec()
        .unwrap()
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    assert!(methods.contains(&"POST"));
}

/// An index as declared: name, key schema (attribute, key type), projection type.
type IndexDecl = (String, Vec<(String, String)>, String);

#[test]
fn the_table_matches_the_schema_the_cli_creates() {
    let template = template();
    let table = &template["Resources"]["Table"]["Properties"];
    assert_eq!(table["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(table["TimeToLiveSpecification"]["AttributeName"].as_str(), Some(schema::TTL_ATTRIBUTE));
    assert_eq!(table["TimeToLiveSpecification"]["Enabled"].as_bool(), Some(true));
    assert_eq!(table["StreamSpecification"]["StreamViewType"].as_str(), Some(schema::STREAM_VIEW_TYPE));
    let definitions: BTreeSet<(String, String)> = table["AttributeDefinitions"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|d| (d["AttributeName"].as_str().unwrap().into(), d["AttributeType"].as_str().unwrap().into()))
        .collect();
    let expected: BTreeSet<(String, String)> =
        schema::attribute_definitions().into_iter().map(|(n, k)| (n.to_string(), k.as_str().to_string())).collect();
    assert_eq!(definitions, expected);
    let key = |schema: &Yaml| -> Vec<(String, String)> {
        schema
            .as_vec()
            .unwrap()
            .iter()
            .map(|k| (k["AttributeName"].as_str().unwrap().into(), k["KeyType"].as_str().unwrap().into()))
            .collect()
    };
    assert_eq!(
        key(&table["KeySchema"]),
        vec![("pk".to_string(), "HASH".to_string()), ("sk".to_string(), "RANGE".to_string())]
    );
    let declared: Vec<IndexDecl> = table["GlobalSecondaryIndexes"]
        .as_vec()
        .map(|v| v.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|i| {
            (
                i["IndexName"].as_str().unwrap().into(),
                key(&i["KeySchema"]),
                i["Projection"]["ProjectionType"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected: Vec<IndexDecl> = schema::indexes()
        .into_iter()
        .map(|i| {
            let mut key = vec![(i.hash_key.0.to_string(), "HASH".to_string())];
            if let Some(range) = i.range_key {
                key.push((range.0.to_string(), "RANGE".to_string()));
            }
            (i.name.to_string(), key, schema::INDEX_PROJECTION.to_string())
        })
        .collect();
    assert_eq!(declared, expected);
}

#[test]
fn every_fixture_is_exercised() {
    let expectations: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("events/expectations.json")).unwrap()).unwrap();
    let used: BTreeSet<String> = expectations
        .as_object()
        .unwrap()
        .values()
        .filter_map(|v| v.as_array())
        .flatten()
        .map(|case| case["event"].as_str().unwrap().to_string())
        .collect();
    let files: BTreeSet<String> = std::fs::read_dir(root().join("events"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "expectations.json")
        // Stream events drive send-mail, whose own tests use them.
        .filter(|n| !n.starts_with("send-mail-"))
        .map(|n| n.trim_end_matches(".json").to_string())
        .collect();
    assert_eq!(files, used, "fixtures in events/ vs fixtures with expectations");
}

/// No request path may Scan: user search and everything else start from keys and indexes.
/// Only test code (which counts items to prove there are no orphans) scans.
#[test]
fn no_scan_in_any_request_path() {
    let mut offenders = Vec::new();
    let mut dirs = vec![root().join("shared/src"), root().join("cli/src")];
    dirs.extend(std::fs::read_dir(root().join("functions")).unwrap().map(|e| e.unwrap().path().join("src")));
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                if text.contains(".scan()") || text.contains("ScanInput") {
                    offenders.push(path.display().to_string());
                }
            }
        }
    }
    assert!(offenders.is_empty(), "Scan used in: {offenders:?}");
}

/// Every HTTP fixture in `events/` is what API Gateway would send for its route: its
/// `routeKey` (top level and in the request context) is a route of the template, on the
/// function the fixture is for, and its `pathParameters` are exactly the values the route's
/// `{params}` take from `rawPath`.
#[test]
fn http_fixtures_carry_api_gateways_route_key_and_path_parameters() {
    let routes = template_routes(&template());
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("events")).expect("events/") {
        let path = entry.expect("an events/ entry").path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let event: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let Some(method) = event["requestContext"]["http"]["method"].as_str() else { continue };
        let route_key = event["routeKey"].as_str().unwrap_or_else(|| panic!("{name}: no routeKey"));
        assert_eq!(event["requestContext"]["routeKey"].as_str(), Some(route_key), "{name}");
        let (key_method, pattern) = route_key.split_once(' ').unwrap_or_else(|| panic!("{name}: {route_key}"));
        assert_eq!(key_method, method, "{name}");
        let function = routes
            .iter()
            .find(|(_, m, p)| m == method && p == pattern)
            .map(|(f, _, _)| f.clone())
            .unwrap_or_else(|| panic!("{name}: {route_key} is not a route of template.yaml"));
        assert!(name.starts_with(&function), "{name}: {route_key} belongs to {function}");

        let raw: Vec<&str> = event["rawPath"].as_str().unwrap().split('/').filter(|s| !s.is_empty()).collect();
        let wanted: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
        assert_eq!(raw.len(), wanted.len(), "{name}: rawPath does not fit {pattern}");
        let mut parameters = serde_json::Map::new();
        for (segment, pattern_segment) in raw.iter().zip(&wanted) {
            match pattern_segment.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(param) => drop(parameters.insert(param.to_string(), serde_json::json!(segment))),
                None => assert_eq!(segment, pattern_segment, "{name}: rawPath does not fit {pattern}"),
            }
        }
        let declared = event.get("pathParameters").cloned().unwrap_or(serde_json::json!({}));
        assert_eq!(declared, serde_json::Value::Object(parameters), "{name}: pathParameters");
        checked += 1;
    }
    assert!(checked >= 60, "only {checked} HTTP fixtures");
}
