//! Checks the deployment files against the design: the CloudFormation templates in
//! `infra/`, and the compose file and Dockerfile in `docker/`.
//!
//! The templates use long-form intrinsics (`Ref:`, `Fn::Sub:`), so they read here as plain
//! maps. cfn-lint (run by scripts/test) checks them against the CloudFormation schemas;
//! these tests check what no schema knows: that the topology is the one the design
//! describes, and that the files agree with the code (its variables, its catalog, its
//! DynamoDB keys, its keep-alive).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_norway::Value;
use shared::catalog::Catalog;
use shared::config::{Config, Environment, VARIABLES};
use shared::http::KEEP_ALIVE_IDLE;

// Reading the files.

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(repo_path(relative))
        .unwrap_or_else(|err| panic!("cannot read {relative}: {err}"))
}

fn yaml(relative: &str) -> Value {
    serde_norway::from_str(&read(relative))
        .unwrap_or_else(|err| panic!("{relative} is not valid YAML: {err}"))
}

fn template(stem: &str) -> Value {
    yaml(&format!("infra/{stem}.yaml"))
}

/// Every template in `infra/`, by file stem.
fn templates() -> BTreeMap<String, Value> {
    let entries = std::fs::read_dir(repo_path("infra")).expect("infra/ is readable");
    let stems: BTreeSet<String> = entries
        .map(|entry| entry.expect("infra/ entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    stems
        .into_iter()
        .map(|stem| {
            let parsed = template(&stem);
            (stem, parsed)
        })
        .collect()
}

// Reading values.

fn text(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected text, found {value:?}"))
}

/// A whole number written either as a number or as text (CloudFormation takes both).
fn whole(value: &Value) -> u64 {
    let parsed = match value {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.parse().ok(),
        _ => None,
    };
    parsed.unwrap_or_else(|| panic!("expected a whole number, found {value:?}"))
}

fn list(value: &Value) -> &[Value] {
    value
        .as_sequence()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("expected a list, found {value:?}"))
}

/// The logical id that a `Ref:` names.
fn ref_of(value: &Value) -> &str {
    text(&value["Ref"])
}

/// The logical id that an `Fn::GetAtt: [Id, Attribute]` reads.
fn getatt_of(value: &Value) -> &str {
    text(&list(&value["Fn::GetAtt"])[0])
}

/// The string of an `Fn::Sub`, in either of its two forms.
fn sub_of(value: &Value) -> &str {
    match &value["Fn::Sub"] {
        Value::Sequence(parts) => text(&parts[0]),
        other => text(other),
    }
}

/// The export an `Fn::ImportValue: {Fn::Sub: ${Project}-...}` names, without the project.
fn import_of(value: &Value) -> &str {
    let name = sub_of(&value["Fn::ImportValue"]);
    name.strip_prefix("${Project}-")
        .unwrap_or_else(|| panic!("import {name} is not one of the project's exports"))
}

/// The resources of type `kind` in a template, by logical id.
fn resources<'a>(template: &'a Value, kind: &str) -> BTreeMap<&'a str, &'a Value> {
    template["Resources"]
        .as_mapping()
        .expect("a template has Resources")
        .iter()
        .filter(|(_, resource)| resource["Type"].as_str() == Some(kind))
        .map(|(id, resource)| (text(id), resource))
        .collect()
}

fn properties<'a>(template: &'a Value, id: &str) -> &'a Value {
    let resource = &template["Resources"][id];
    assert!(!resource.is_null(), "no resource {id}");
    &resource["Properties"]
}

/// The value of `key` in a `[{Key, Value}]` list such as LoadBalancerAttributes.
fn attribute<'a>(attributes: &'a Value, key: &str) -> Option<&'a Value> {
    list(attributes)
        .iter()
        .find(|pair| pair["Key"].as_str() == Some(key))
        .map(|pair| &pair["Value"])
}

/// The template and logical id behind an export (`balancers-WebTargetGroup`, say).
fn exporter(templates: &BTreeMap<String, Value>, export: &str) -> (String, String) {
    for (stem, template) in templates {
        let Some(outputs) = template["Outputs"].as_mapping() else {
            continue;
        };
        for output in outputs.values() {
            let name = &output["Export"]["Name"];
            if !name.is_null() && sub_of(name) == format!("${{Project}}-{export}") {
                return (stem.clone(), output_source(&output["Value"]).to_string());
            }
        }
    }
    panic!("no template exports {export}")
}

/// The logical id an output reports on, or the text it builds for a computed value.
fn output_source(value: &Value) -> &str {
    if !value["Ref"].is_null() {
        ref_of(value)
    } else if !value["Fn::GetAtt"].is_null() {
        getatt_of(value)
    } else {
        sub_of(value)
    }
}

fn default_of(name: &str) -> &'static str {
    VARIABLES
        .iter()
        .find(|(variable, _, _)| *variable == name)
        .map(|(_, default, _)| *default)
        .unwrap_or_else(|| panic!("{name} is not in shared::config::VARIABLES"))
}

/// A variable the binaries read, or one that the AWS SDK reads for them.
fn is_known_variable(name: &str) -> bool {
    name.starts_with("AWS_") || VARIABLES.iter().any(|(variable, _, _)| *variable == name)
}

// The templates as a whole.

#[test]
fn every_template_is_plain_yaml_with_long_form_intrinsics() {
    let templates = templates();
    assert!(templates.len() >= 5, "found only {:?}", templates.keys());
    for (stem, template) in &templates {
        assert_eq!(
            template["AWSTemplateFormatVersion"].as_str(),
            Some("2010-09-09"),
            "{stem}"
        );
        assert!(
            !resources_all(template).is_empty(),
            "{stem} has no resources"
        );
        assert_no_tags(stem, template);
    }
}

fn resources_all(template: &Value) -> Vec<&Value> {
    template["Resources"]
        .as_mapping()
        .map(|resources| resources.values().collect())
        .unwrap_or_default()
}

/// A short-form intrinsic (`!Ref`) parses as a YAML tag; these tests and other YAML
/// readers would see a tagged value where they expect a map.
fn assert_no_tags(stem: &str, value: &Value) {
    match value {
        Value::Tagged(tagged) => panic!("{stem} uses the short form {}", tagged.tag),
        Value::Sequence(items) => items.iter().for_each(|item| assert_no_tags(stem, item)),
        Value::Mapping(map) => map.values().for_each(|item| assert_no_tags(stem, item)),
        _ => {}
    }
}

#[test]
fn every_import_names_an_export_of_another_template() {
    let templates = templates();
    for (stem, template) in &templates {
        for export in imports(template) {
            let (exporting, _) = exporter(&templates, &export);
            assert_ne!(&exporting, stem, "{stem} imports its own export {export}");
        }
    }
}

fn imports(value: &Value) -> Vec<String> {
    match value {
        Value::Mapping(map) if map.contains_key("Fn::ImportValue") => {
            vec![import_of(value).to_string()]
        }
        Value::Mapping(map) => map.values().flat_map(imports).collect(),
        Value::Sequence(items) => items.iter().flat_map(imports).collect(),
        _ => Vec::new(),
    }
}

// Route 53.

#[test]
fn route53_sends_four_parts_to_the_web_balancer_and_one_to_the_web_api() {
    let dns = template("dns");
    let records = resources(&dns, "AWS::Route53::RecordSet");
    assert_eq!(records.len(), 2, "{:?}", records.keys());
    let mut weights = BTreeMap::new();
    for record in records.values() {
        let props = &record["Properties"];
        assert_eq!(
            ref_of(&props["Name"]),
            "DomainName",
            "both records share the name"
        );
        weights.insert(alias_target(&props["AliasTarget"]), whole(&props["Weight"]));
    }
    let expected = BTreeMap::from([("web api".to_string(), 1), ("web balancer".to_string(), 4)]);
    assert_eq!(weights, expected);
}

/// What a weighted record points at, in words.
fn alias_target(alias: &Value) -> String {
    let dns_name = &alias["DNSName"];
    if !dns_name["Fn::ImportValue"].is_null() {
        assert_eq!(import_of(dns_name), "balancers-WebDns");
        "web balancer".into()
    } else {
        assert_eq!(getatt_of(dns_name), "WebApiDomain");
        "web api".into()
    }
}

#[test]
fn each_weighted_record_has_a_health_check_on_its_own_path_readiness() {
    let dns = template("dns");
    for (id, record) in resources(&dns, "AWS::Route53::RecordSet") {
        let props = &record["Properties"];
        let check = properties(&dns, ref_of(&props["HealthCheckId"]));
        let config = &check["HealthCheckConfig"];
        assert_eq!(text(&config["ResourcePath"]), "/health/ready", "{id}");
        assert_eq!(text(&config["Type"]), "HTTPS", "{id}");
        let probed = import_of(&config["FullyQualifiedDomainName"]);
        let expected = match alias_target(&props["AliasTarget"]).as_str() {
            "web balancer" => "balancers-WebDns",
            _ => "serverless-WebApiHost",
        };
        assert_eq!(probed, expected, "{id} is judged by another path's health");
    }
}

// Load balancers.

#[test]
fn the_web_balancer_faces_the_internet_and_app_and_crud_are_internal() {
    let balancers = template("balancers");
    let schemes: BTreeMap<&str, &str> =
        resources(&balancers, "AWS::ElasticLoadBalancingV2::LoadBalancer")
            .into_iter()
            .map(|(id, lb)| (id, text(&lb["Properties"]["Scheme"])))
            .collect();
    let expected = BTreeMap::from([
        ("AppLoadBalancer", "internal"),
        ("CrudLoadBalancer", "internal"),
        ("WebLoadBalancer", "internet-facing"),
    ]);
    assert_eq!(schemes, expected);
}

#[test]
fn balancers_close_idle_connections_before_the_tiers_do() {
    let balancers = template("balancers");
    let lbs = resources(&balancers, "AWS::ElasticLoadBalancingV2::LoadBalancer");
    for (id, lb) in lbs {
        let idle = attribute(
            &lb["Properties"]["LoadBalancerAttributes"],
            "idle_timeout.timeout_seconds",
        )
        .unwrap_or_else(|| panic!("{id} leaves the idle timeout to its default"));
        assert!(
            whole(idle) < KEEP_ALIVE_IDLE.as_secs(),
            "{id}: idle timeout {} s is not below the tiers' {} s keep-alive",
            whole(idle),
            KEEP_ALIVE_IDLE.as_secs()
        );
    }
}

#[test]
fn every_target_group_checks_readiness_and_drains_deliberately() {
    let balancers = template("balancers");
    let groups = resources(&balancers, "AWS::ElasticLoadBalancingV2::TargetGroup");
    assert_eq!(groups.len(), 3);
    let upstream_timeout_s: u64 = default_of("MATCHLOG_UPSTREAM_TIMEOUT_MS")
        .parse::<u64>()
        .unwrap()
        / 1000;
    for (id, group) in groups {
        let props = &group["Properties"];
        assert_eq!(text(&props["HealthCheckPath"]), "/health/ready", "{id}");
        assert_eq!(text(&props["Matcher"]["HttpCode"]), "200", "{id}");
        assert_eq!(
            text(&props["TargetType"]),
            "ip",
            "{id}: Fargate tasks are ip targets"
        );
        let delay = attribute(
            &props["TargetGroupAttributes"],
            "deregistration_delay.timeout_seconds",
        )
        .unwrap_or_else(|| panic!("{id} leaves the deregistration delay at AWS's 300 s"));
        let delay = whole(delay);
        assert!(
            delay > upstream_timeout_s && delay < 300,
            "{id}: deregistration delay {delay} s"
        );
    }
}

// ECS.

const TIERS: [&str; 3] = ["web", "app", "crud"];

fn capitalised(tier: &str) -> String {
    let mut chars = tier.chars();
    let first = chars.next().unwrap().to_ascii_uppercase();
    std::iter::once(first).chain(chars).collect()
}

#[test]
fn each_tier_runs_as_a_fargate_service_in_its_own_cluster() {
    let services = template("services");
    let found = resources(&services, "AWS::ECS::Service");
    let names: BTreeSet<&str> = found
        .values()
        .map(|s| text(&s["Properties"]["ServiceName"]))
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(TIERS),
        "no gateway service: on AWS the gateway is the app HTTP API"
    );
    let clusters: BTreeSet<&str> = found
        .values()
        .map(|s| ref_of(&s["Properties"]["Cluster"]))
        .collect();
    assert_eq!(clusters.len(), 3, "one cluster per tier");
    assert_eq!(resources(&services, "AWS::ECS::Cluster").len(), 3);
    for (id, service) in found {
        let props = &service["Properties"];
        assert_eq!(text(&props["LaunchType"]), "FARGATE", "{id}");
        assert!(
            whole(&props["HealthCheckGracePeriodSeconds"]) > 0,
            "{id} has no health-check grace"
        );
        let task = properties(&services, ref_of(&props["TaskDefinition"]));
        assert_eq!(
            list(&task["RequiresCompatibilities"]),
            [Value::from("FARGATE")],
            "{id}"
        );
        assert_eq!(text(&task["NetworkMode"]), "awsvpc", "{id}");
    }
}

#[test]
fn each_service_sends_its_balancer_to_the_port_its_tier_listens_on() {
    let all = templates();
    let services = &all["services"];
    for tier in TIERS {
        let service = properties(services, &format!("{}Service", capitalised(tier)));
        let binding = &list(&service["LoadBalancers"])[0];
        let (stem, group_id) = exporter(&all, import_of(&binding["TargetGroupArn"]));
        assert_eq!(stem, "balancers");
        assert_eq!(
            group_id,
            format!("{}TargetGroup", capitalised(tier)),
            "{tier}"
        );
        let group_port = whole(&properties(&all[&stem], &group_id)["Port"]);
        let container = container(services, tier);
        let listen =
            environment_of(container)[&format!("MATCHLOG_{}_ADDR", tier.to_uppercase())].clone();
        assert_eq!(whole(&binding["ContainerPort"]), group_port, "{tier}");
        assert!(
            listen.ends_with(&format!(":{group_port}")),
            "{tier} listens on {listen}"
        );
    }
}

/// The only container of a tier's task definition.
fn container<'a>(services: &'a Value, tier: &str) -> &'a Value {
    let task = properties(services, &format!("{}Task", capitalised(tier)));
    let containers = list(&task["ContainerDefinitions"]);
    assert_eq!(containers.len(), 1);
    &containers[0]
}

/// A container's plain environment, with intrinsic values shown as "<intrinsic>".
fn environment_of(container: &Value) -> BTreeMap<String, String> {
    list(&container["Environment"])
        .iter()
        .map(|pair| {
            let value = pair["Value"].as_str().unwrap_or("<intrinsic>");
            (text(&pair["Name"]).to_string(), value.to_string())
        })
        .collect()
}

#[test]
fn the_tasks_stop_timeout_outlasts_the_tiers_own_drain() {
    let services = template("services");
    for tier in TIERS {
        let stop = whole(&container(&services, tier)["StopTimeout"]);
        assert!(
            stop > shared::http::DRAIN_LIMIT.as_secs(),
            "{tier}: StopTimeout {stop} s"
        );
    }
}

#[test]
fn scaling_is_configured_but_held_at_the_desired_count() {
    let services = template("services");
    let targets = resources(&services, "AWS::ApplicationAutoScaling::ScalableTarget");
    let policies = resources(&services, "AWS::ApplicationAutoScaling::ScalingPolicy");
    assert_eq!(targets.len(), 3);
    for tier in TIERS {
        let service_id = format!("{}Service", capitalised(tier));
        let desired = &properties(&services, &service_id)["DesiredCount"];
        let (target_id, target) = targets
            .iter()
            .find(|(_, t)| {
                sub_of(&t["Properties"]["ResourceId"]).contains(&format!("${{{service_id}.Name}}"))
            })
            .unwrap_or_else(|| panic!("{tier} has no scalable target"));
        let props = &target["Properties"];
        assert_eq!(
            &props["MinCapacity"], desired,
            "{tier}: minimum is not the desired count"
        );
        assert_eq!(
            &props["MaxCapacity"], desired,
            "{tier}: maximum is not the desired count"
        );
        let policy = policies
            .values()
            .find(|p| ref_of(&p["Properties"]["ScalingTargetId"]) == *target_id)
            .unwrap_or_else(|| panic!("{tier} has no scaling policy ready"));
        assert_eq!(
            text(&policy["Properties"]["PolicyType"]),
            "TargetTrackingScaling"
        );
    }
}

// Serverless.

#[test]
fn two_http_apis_route_as_the_design_says() {
    let serverless = template("serverless");
    let apis = resources(&serverless, "AWS::ApiGatewayV2::Api");
    assert_eq!(
        apis.keys().copied().collect::<Vec<_>>(),
        ["AppApi", "WebApi"]
    );
    for api in apis.values() {
        assert_eq!(text(&api["Properties"]["ProtocolType"]), "HTTP");
    }
    let routes = routes(&serverless);
    let web = BTreeMap::from([("$default".to_string(), "WebFunction".to_string())]);
    assert_eq!(routes["WebApi"], web);
    let app: BTreeMap<String, String> = [
        ("ANY /v1/accounts", "AppFunction"),
        ("ANY /v1/accounts/{proxy+}", "AppFunction"),
        ("ANY /v1/sessions", "AppFunction"),
        ("ANY /v1/sessions/{proxy+}", "AppFunction"),
        ("GET /health/live", "AppFunction"),
        ("GET /health/ready", "AppFunction"),
        ("ANY /v1/games/{proxy+}", "CrudFunction"),
        ("ANY /v1/matches", "CrudFunction"),
    ]
    .into_iter()
    .map(|(route, function)| (route.to_string(), function.to_string()))
    .collect();
    assert_eq!(routes["AppApi"], app);
}

/// For each API, each route key and the function its integration invokes.
fn routes(serverless: &Value) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut by_api: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for route in resources(serverless, "AWS::ApiGatewayV2::Route").values() {
        let props = &route["Properties"];
        let integration_id = sub_of(&props["Target"])
            .strip_prefix("integrations/${")
            .and_then(|rest| rest.strip_suffix('}'))
            .expect("a route targets an integration of this template");
        let integration = properties(serverless, integration_id);
        assert_eq!(
            ref_of(&integration["ApiId"]),
            ref_of(&props["ApiId"]),
            "{integration_id}"
        );
        assert_eq!(text(&integration["IntegrationType"]), "AWS_PROXY");
        assert_eq!(text(&integration["PayloadFormatVersion"]), "2.0");
        let function = getatt_of(&integration["IntegrationUri"]).to_string();
        let route_key = text(&props["RouteKey"]).to_string();
        by_api
            .entry(ref_of(&props["ApiId"]).to_string())
            .or_default()
            .insert(route_key, function);
    }
    by_api
}

#[test]
fn each_api_may_invoke_exactly_the_functions_it_routes_to() {
    let serverless = template("serverless");
    let mut granted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for permission in resources(&serverless, "AWS::Lambda::Permission").values() {
        let props = &permission["Properties"];
        assert_eq!(text(&props["Principal"]), "apigateway.amazonaws.com");
        let api = sub_of(&props["SourceArn"])
            .rsplit(":${")
            .next()
            .unwrap()
            .trim_end_matches("}/*");
        granted
            .entry(api.to_string())
            .or_default()
            .insert(ref_of(&props["FunctionName"]).to_string());
    }
    for (api, routes) in routes(&serverless) {
        let routed: BTreeSet<String> = routes.into_values().collect();
        assert_eq!(granted.get(&api), Some(&routed), "{api}");
    }
}

#[test]
fn lambda_functions_run_the_bootstrap_on_provided_al2023() {
    let serverless = template("serverless");
    let functions = resources(&serverless, "AWS::Lambda::Function");
    assert_eq!(functions.len(), 3);
    let script = read("scripts/package-lambdas");
    for (id, function) in functions {
        let props = &function["Properties"];
        assert_eq!(text(&props["Runtime"]), "provided.al2023", "{id}");
        assert_eq!(text(&props["Handler"]), "bootstrap", "{id}");
        assert_eq!(
            import_of(&props["Code"]["S3Bucket"]),
            "artifacts-LambdaBucket",
            "{id}"
        );
        let key_parameter = ref_of(&props["Code"]["S3Key"]);
        let default_key = text(&serverless["Parameters"][key_parameter]["Default"]);
        let package = Path::new(default_key)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            script.contains(&package),
            "scripts/package-lambdas does not build {package}"
        );
        assert!(
            !props["VpcConfig"].is_null(),
            "{id} cannot reach the internal balancers"
        );
    }
}

// Data.

#[test]
fn the_accounts_database_is_private_postgresql_with_its_password_in_secrets_manager() {
    let data = template("data");
    let databases = resources(&data, "AWS::RDS::DBInstance");
    assert_eq!(databases.len(), 1);
    let props = &databases.values().next().unwrap()["Properties"];
    assert_eq!(text(&props["Engine"]), "postgres");
    let version = text(&props["EngineVersion"]);
    assert!(
        version.split('.').count() == 2 && version.split('.').all(|p| p.parse::<u32>().is_ok()),
        "give RDS a full minor version, not {version}"
    );
    assert_eq!(props["PubliclyAccessible"], Value::Bool(false));
    assert_eq!(props["StorageEncrypted"], Value::Bool(true));
    let password = sub_of(&props["MasterUserPassword"]);
    assert!(
        password.starts_with("{{resolve:secretsmanager:"),
        "{password}"
    );
    let subnets = properties(&data, ref_of(&props["DBSubnetGroupName"]));
    let names: Vec<&str> = list(&subnets["SubnetIds"]).iter().map(import_of).collect();
    assert_eq!(names, ["network-PrivateSubnetA", "network-PrivateSubnetB"]);
}

#[test]
fn one_results_table_per_catalog_game_with_the_stores_key_schema() {
    let data = template("data");
    let catalog = Catalog::from_json(&read("shared/games.json")).expect("the catalog parses");
    let expected: BTreeSet<String> = catalog
        .games()
        .iter()
        .map(|g| format!("${{TablePrefix}}{}", g.slug))
        .collect();
    let tables = resources(&data, "AWS::DynamoDB::Table");
    let names: BTreeSet<String> = tables
        .values()
        .map(|t| sub_of(&t["Properties"]["TableName"]).to_string())
        .collect();
    assert_eq!(names, expected, "one table per game in shared/games.json");
    assert_eq!(
        text(&data["Parameters"]["TablePrefix"]["Default"]),
        default_of("MATCHLOG_DYNAMODB_TABLE_PREFIX")
    );
    let (partition, sort) = store_keys();
    for (id, table) in tables {
        let props = &table["Properties"];
        assert_eq!(
            key_schema(props),
            [
                (partition.clone(), "HASH".to_string(), "S".to_string()),
                (sort.clone(), "RANGE".to_string(), "S".to_string())
            ],
            "{id}"
        );
        assert_eq!(text(&props["BillingMode"]), "PAY_PER_REQUEST", "{id}");
    }
}

/// The partition and sort key names the DynamoDB backend creates its tables with.
fn store_keys() -> (String, String) {
    let source = read("crates/results-store/src/dynamo.rs");
    let constant = |name: &str| {
        let line = source
            .lines()
            .find(|line| {
                line.trim_start()
                    .starts_with(&format!("const {name}: &str = "))
            })
            .unwrap_or_else(|| panic!("the DynamoDB backend no longer names its key {name}"));
        line.split('"').nth(1).expect("a quoted name").to_string()
    };
    (constant("PK"), constant("SK"))
}

/// (attribute, key type, attribute type) for each key of a table, in schema order.
fn key_schema(table: &Value) -> Vec<(String, String, String)> {
    let types: BTreeMap<&str, &str> = list(&table["AttributeDefinitions"])
        .iter()
        .map(|a| (text(&a["AttributeName"]), text(&a["AttributeType"])))
        .collect();
    list(&table["KeySchema"])
        .iter()
        .map(|key| {
            let name = text(&key["AttributeName"]);
            (
                name.to_string(),
                text(&key["KeyType"]).to_string(),
                types[name].to_string(),
            )
        })
        .collect()
}

// Secrets.

#[test]
fn the_keys_live_in_secrets_manager_and_reach_every_task() {
    let all = templates();
    let services = &all["services"];
    for tier in TIERS {
        let container = container(services, tier);
        let secrets: BTreeMap<&str, &str> = list(&container["Secrets"])
            .iter()
            .map(|s| (text(&s["Name"]), import_of(&s["ValueFrom"])))
            .collect();
        assert_eq!(
            secrets.get("MATCHLOG_SESSION_KEY"),
            Some(&"data-SessionKeyArn"),
            "{tier}"
        );
        assert_eq!(
            secrets.get("MATCHLOG_INTERNAL_KEY"),
            Some(&"data-InternalKeyArn"),
            "{tier}"
        );
        let plain = environment_of(container);
        assert!(
            !plain.contains_key("MATCHLOG_SESSION_KEY")
                && !plain.contains_key("MATCHLOG_CREDENTIALS_DB"),
            "{tier}"
        );
        assert_eq!(plain["MATCHLOG_ENV"], "production", "{tier}");
        for export in secrets.values() {
            let (stem, id) = exporter(&all, export);
            let kind = &all[&stem]["Resources"][id.as_str()]["Type"];
            assert_eq!(
                text(kind),
                "AWS::SecretsManager::Secret",
                "{tier}: {export}"
            );
        }
    }
    let app = container(services, "app");
    assert!(
        list(&app["Secrets"])
            .iter()
            .any(|s| text(&s["Name"]) == "MATCHLOG_CREDENTIALS_DB")
    );
}

#[test]
fn the_keys_reach_every_function_from_secrets_manager() {
    let serverless = template("serverless");
    for (id, function) in resources(&serverless, "AWS::Lambda::Function") {
        let variables = &function["Properties"]["Environment"]["Variables"];
        assert_eq!(text(&variables["MATCHLOG_ENV"]), "production", "{id}");
        for key in ["MATCHLOG_SESSION_KEY", "MATCHLOG_INTERNAL_KEY"] {
            let reference = sub_of(&variables[key]);
            assert!(
                reference.starts_with("{{resolve:secretsmanager:${Project}/"),
                "{id}: {key} is {reference}"
            );
        }
    }
}

#[test]
fn generated_keys_have_a_shape_the_tiers_accept_as_production_keys() {
    let data = template("data");
    for id in ["SessionKey", "InternalKey"] {
        let generate = &properties(&data, id)["GenerateSecretString"];
        assert_eq!(generate["ExcludePunctuation"], Value::Bool(true), "{id}");
        let length = whole(&generate["PasswordLength"]) as usize;
        // Letters and digits only: what Secrets Manager may generate with these settings.
        let sample: String = "Zq7".chars().cycle().take(length).collect();
        let lookup = |name: &str| match name {
            "MATCHLOG_ENV" => Some("production".to_string()),
            "MATCHLOG_SESSION_KEY" | "MATCHLOG_INTERNAL_KEY" => Some(sample.clone()),
            _ => None,
        };
        let config = Config::from_lookup(lookup);
        assert!(
            config.is_ok(),
            "{id}: a {length}-character key is refused: {:?}",
            config.err()
        );
    }
}

// IAM.

/// Actions whose AWS API supports no resource scoping, so a policy must name "*".
const UNSCOPABLE: [&str; 7] = [
    "ecr:GetAuthorizationToken",
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
];

/// Every policy statement in a template, with the logical id it belongs to.
fn statements(template: &Value) -> Vec<(String, &Value)> {
    let mut found = Vec::new();
    for (id, resource) in template["Resources"].as_mapping().unwrap() {
        collect_statements(text(id), resource, &mut found);
    }
    found
}

fn collect_statements<'a>(id: &str, value: &'a Value, found: &mut Vec<(String, &'a Value)>) {
    match value {
        Value::Mapping(map) => {
            for (key, inner) in map {
                if matches!(
                    key.as_str(),
                    Some("PolicyDocument" | "AssumeRolePolicyDocument")
                ) {
                    found.extend(
                        list(&inner["Statement"])
                            .iter()
                            .map(|s| (id.to_string(), s)),
                    );
                } else {
                    collect_statements(id, inner, found);
                }
            }
        }
        Value::Sequence(items) => items
            .iter()
            .for_each(|item| collect_statements(id, item, found)),
        _ => {}
    }
}

fn one_or_many(value: &Value) -> Vec<&str> {
    match value {
        Value::Sequence(items) => items.iter().map(text).collect(),
        Value::Null => Vec::new(),
        other => vec![text(other)],
    }
}

fn names_every_resource(resource: &Value) -> bool {
    match resource {
        Value::Sequence(items) => items.iter().any(names_every_resource),
        other => other.as_str() == Some("*"),
    }
}

#[test]
fn no_policy_grants_a_wildcard_action_or_an_unscoped_resource() {
    let mut seen = 0;
    for (stem, template) in templates() {
        for (id, statement) in statements(&template) {
            seen += 1;
            assert!(
                statement["NotAction"].is_null(),
                "{stem}/{id} uses NotAction"
            );
            let actions = one_or_many(&statement["Action"]);
            assert!(
                !actions.is_empty(),
                "{stem}/{id} has a statement without actions"
            );
            for action in &actions {
                assert!(!action.contains('*'), "{stem}/{id} grants {action}");
            }
            if names_every_resource(&statement["Resource"]) {
                for action in &actions {
                    assert!(
                        UNSCOPABLE.contains(action),
                        "{stem}/{id} grants {action} on every resource"
                    );
                }
            }
        }
    }
    assert!(seen > 10, "found only {seen} policy statements");
}

/// The DynamoDB actions the results store's backend calls at run time, read from its
/// source: each `client.<operation>()`, and each kind of item it writes in a transaction
/// (IAM checks a TransactWriteItems call action by action). CreateTable is left out: only
/// the local `crud-create-tables` step calls it; on AWS the data stack makes the tables.
fn backend_dynamodb_actions() -> BTreeSet<String> {
    let source: String = read("crates/results-store/src/dynamo.rs")
        .split_whitespace()
        .collect();
    let mut operations: BTreeSet<String> = source
        .split(".client.")
        .skip(1)
        .filter_map(|rest| {
            rest.split_once("()")
                .map(|(operation, _)| operation.to_string())
        })
        .collect();
    assert!(!operations.is_empty(), "the backend's calls were not found");
    if operations.remove("transact_write_items") {
        for (builder, operation) in [
            ("put", "put_item"),
            ("update", "update_item"),
            ("delete", "delete_item"),
        ] {
            if source.contains(&format!("TransactWriteItem::builder().{builder}(")) {
                operations.insert(operation.to_string());
            }
        }
    }
    operations.remove("create_table");
    operations
        .iter()
        .map(|operation| format!("dynamodb:{}", camel_case(operation)))
        .collect()
}

fn camel_case(snake: &str) -> String {
    snake.split('_').map(capitalised).collect()
}

#[test]
fn crud_may_call_exactly_the_dynamodb_actions_its_store_uses() {
    let expected = backend_dynamodb_actions();
    let mut roles = 0;
    for (stem, template) in templates() {
        for (id, statement) in statements(&template) {
            let granted: BTreeSet<String> = one_or_many(&statement["Action"])
                .into_iter()
                .filter(|action| action.starts_with("dynamodb:"))
                .map(str::to_string)
                .collect();
            if !granted.is_empty() {
                roles += 1;
                assert_eq!(granted, expected, "{stem}/{id}");
            }
        }
    }
    assert_eq!(roles, 2, "the crud task and the crud function");
}

#[test]
fn only_crud_may_touch_the_result_tables_and_only_app_reads_the_database_url() {
    for (stem, template) in templates() {
        for (id, statement) in statements(&template) {
            let actions = one_or_many(&statement["Action"]);
            if actions.iter().any(|a| a.starts_with("dynamodb:")) {
                assert!(id.starts_with("Crud"), "{stem}/{id} may use DynamoDB");
            }
            let resources = &statement["Resource"];
            if imports(resources)
                .iter()
                .any(|export| export == "data-DatabaseUrlArn")
            {
                assert!(
                    id.starts_with("App"),
                    "{stem}/{id} may read the database URL"
                );
            }
        }
    }
}

#[test]
fn every_task_and_function_sets_only_variables_the_binaries_read() {
    let services = template("services");
    for tier in TIERS {
        let container = container(&services, tier);
        let names = environment_of(container).into_keys().chain(
            list(&container["Secrets"])
                .iter()
                .map(|s| text(&s["Name"]).to_string()),
        );
        for name in names {
            assert!(is_known_variable(&name), "{tier} task sets {name}");
        }
    }
    let serverless = template("serverless");
    for (id, function) in resources(&serverless, "AWS::Lambda::Function") {
        let variables = function["Properties"]["Environment"]["Variables"]
            .as_mapping()
            .unwrap();
        for name in variables.keys().map(text) {
            assert!(is_known_variable(name), "{id} sets {name}");
        }
    }
}

// Compose and the Dockerfile.

/// Our tier services in the compose file, and the environment variable that says where
/// each listens.
const COMPOSE_TIERS: [(&str, &str); 4] = [
    ("web", "MATCHLOG_WEB_ADDR"),
    ("app", "MATCHLOG_APP_ADDR"),
    ("crud", "MATCHLOG_CRUD_ADDR"),
    ("gateway", "MATCHLOG_GATEWAY_ADDR"),
];

fn compose() -> Value {
    yaml("docker/compose.yaml")
}

fn compose_services(compose: &Value) -> Vec<(&str, &Value)> {
    compose["services"]
        .as_mapping()
        .expect("compose has services")
        .iter()
        .map(|(name, service)| (text(name), service))
        .collect()
}

/// A service's environment as written (values still hold `${...}` interpolations).
fn compose_environment(service: &Value) -> BTreeMap<String, String> {
    let Some(environment) = service["environment"].as_mapping() else {
        return BTreeMap::new();
    };
    environment
        .iter()
        .map(|(name, value)| {
            let value = match value {
                Value::String(text) => text.clone(),
                other => panic!("write {name:?} as text, not {other:?}"),
            };
            (text(name).to_string(), value)
        })
        .collect()
}

#[test]
fn compose_services_set_only_variables_the_binaries_read() {
    let compose = compose();
    for (name, service) in compose_services(&compose) {
        let ours = !service["build"].is_null();
        for variable in compose_environment(service).keys() {
            let known = is_known_variable(variable);
            if variable.starts_with("MATCHLOG_") || ours {
                assert!(
                    known,
                    "compose service {name} sets {variable}, which no binary reads"
                );
            }
        }
    }
}

/// A Dockerfile's stages: name, base image, and the instructions after its FROM.
struct Stage {
    name: String,
    base: String,
    lines: Vec<String>,
}

fn stages(dockerfile: &str) -> Vec<Stage> {
    let mut stages: Vec<Stage> = Vec::new();
    for line in dockerfile
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"FROM") {
            assert!(
                words.len() == 4 && words[2].eq_ignore_ascii_case("AS"),
                "name every stage: {line}"
            );
            stages.push(Stage {
                name: words[3].into(),
                base: words[1].into(),
                lines: Vec::new(),
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.lines.push(line.to_string());
        }
    }
    stages
}

/// A stage's chain of stages back to its outside base image, nearest first.
fn lineage<'a>(stages: &'a [Stage], target: &str) -> Vec<&'a Stage> {
    let mut chain = Vec::new();
    let mut name = target.to_string();
    while let Some(stage) = stages.iter().find(|s| s.name == name) {
        chain.push(stage);
        name = stage.base.clone();
    }
    assert!(!chain.is_empty(), "the Dockerfile has no stage {target}");
    chain
}

#[test]
fn every_image_compose_runs_of_ours_is_built_from_this_repositorys_dockerfile() {
    let compose = compose();
    let services = compose_services(&compose);
    for (name, service) in &services {
        let build = &service["build"];
        let runs_ours = compose_environment(service)
            .keys()
            .any(|k| k.starts_with("MATCHLOG_"));
        if build.is_null() {
            assert!(
                !runs_ours,
                "{name} runs matchlog from an image we do not build"
            );
            let image = text(&service["image"]);
            assert!(
                image.contains(':') && !image.ends_with(":latest"),
                "pin {name}'s image {image}"
            );
            continue;
        }
        let context = repo_path("docker").join(text(&build["context"]));
        assert_eq!(
            context.canonicalize().unwrap(),
            repo_path("").canonicalize().unwrap(),
            "{name}"
        );
        let dockerfile = text(&build["dockerfile"]);
        let contents = std::fs::read_to_string(context.join(dockerfile)).unwrap_or_else(|err| {
            panic!("{name}: no Dockerfile {dockerfile} in this repository: {err}")
        });
        lineage(&stages(&contents), text(&build["target"]));
    }
    let named: BTreeSet<&str> = services.iter().map(|(name, _)| *name).collect();
    for (tier, _) in COMPOSE_TIERS {
        assert!(named.contains(tier), "compose runs no {tier}");
    }
}

#[test]
fn every_tier_image_is_slim_non_root_and_runs_its_own_binary_on_its_port() {
    let compose = compose();
    let dockerfile = read("docker/Dockerfile");
    let stages = stages(&dockerfile);
    for (tier, address_variable) in COMPOSE_TIERS {
        let service = &compose["services"][tier];
        let target = text(&service["build"]["target"]);
        let chain = lineage(&stages, target);
        let outside = &chain.last().unwrap().base;
        assert!(
            outside.starts_with("debian:") && outside.ends_with("-slim"),
            "{tier} runs on {outside}"
        );
        let lines: Vec<&String> = chain.iter().rev().flat_map(|s| s.lines.iter()).collect();
        let user = lines
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix("USER "))
            .expect("a USER line");
        assert!(
            !user.starts_with("root") && !user.starts_with("0"),
            "{tier} runs as {user}"
        );
        let entrypoint = format!("ENTRYPOINT [\"/usr/local/bin/{tier}\"]");
        assert!(
            lines.iter().any(|l| **l == entrypoint),
            "{tier} image does not run {tier}"
        );
        let address = compose_environment(service)[address_variable].clone();
        let port = address.rsplit(':').next().unwrap();
        assert!(
            lines.iter().any(|l| **l == format!("EXPOSE {port}")),
            "{tier}: port {port} is not exposed"
        );
        let check = list(&service["healthcheck"]["test"])
            .iter()
            .map(text)
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            check.contains(&format!("/dev/tcp/127.0.0.1/{port}"))
                && check.contains("/health/ready"),
            "{tier}: {check}"
        );
    }
}

#[test]
fn the_table_step_runs_a_binary_the_crud_image_carries_before_crud_and_gateway_start() {
    let compose = compose();
    let step = &compose["services"]["create-tables"];
    let entrypoint = list(&step["entrypoint"])[0].as_str().unwrap().to_string();
    let dockerfile = read("docker/Dockerfile");
    let stages = stages(&dockerfile);
    let chain = lineage(&stages, text(&step["build"]["target"]));
    let binary = entrypoint.rsplit('/').next().unwrap();
    assert!(
        chain[0]
            .lines
            .iter()
            .any(|l| l.starts_with("COPY") && l.contains(binary)),
        "{binary} is not in the image"
    );
    for waiting in ["crud", "gateway"] {
        let condition = &compose["services"][waiting]["depends_on"]["create-tables"]["condition"];
        assert_eq!(
            text(condition),
            "service_completed_successfully",
            "{waiting}"
        );
    }
    for upstream in ["app", "crud", "gateway"] {
        let condition = &compose["services"]["web"]["depends_on"][upstream]["condition"];
        assert_eq!(
            text(condition),
            "service_healthy",
            "web waits for {upstream}"
        );
    }
}

/// Replaces each `${NAME}`, `${NAME:-default}` and `${NAME:?message}` in a compose value;
/// required names must use `:?` so compose stops with a clear message when they are unset.
fn interpolate(value: &str, given: &BTreeMap<&str, String>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("a closed interpolation") + start;
        let inner = &rest[start + 2..end];
        let (name, fallback) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default.to_string())),
            None => (inner.split(":?").next().unwrap(), None),
        };
        if given.contains_key(name) {
            assert!(
                inner.contains(":?"),
                "{name} must stop compose when unset: ${{{inner}}}"
            );
        }
        out.push_str(
            &given
                .get(name)
                .cloned()
                .or(fallback)
                .unwrap_or_else(|| panic!("${{{inner}}} has no value")),
        );
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn every_compose_tier_starts_with_a_valid_production_configuration() {
    let compose = compose();
    let key = "bWF0Y2hsb2cgY29tcG9zZSB0ZXN0IGtleSwgMzIgYiE=".to_string();
    let given = BTreeMap::from([
        ("MATCHLOG_SESSION_KEY", key.clone()),
        ("MATCHLOG_INTERNAL_KEY", key),
    ]);
    for (tier, _) in COMPOSE_TIERS {
        let environment: BTreeMap<String, String> = compose_environment(&compose["services"][tier])
            .into_iter()
            .map(|(name, value)| (name, interpolate(&value, &given)))
            .collect();
        for required in given.keys() {
            assert!(
                environment.contains_key(*required),
                "{tier} lacks {required}"
            );
        }
        let config = Config::from_lookup(|name| environment.get(name).cloned())
            .unwrap_or_else(|err| panic!("{tier} would not start: {err}"));
        assert_eq!(config.environment, Environment::Production, "{tier}");
    }
}
