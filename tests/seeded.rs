//! 2,000 users with varied names and tags; `GET /users/v2` by id list, login, email,
//! full_name prefix and tag must return exactly what a brute-force filter over the same users
//! returns, with the right `total_entries` (counted up to the next page) on every page. Then 200 updates and 100
//! deletes, and the same checks again: the indexes follow every write.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use shared::domain::app::AppSettings;
use shared::domain::search::{normalise, normalise_tag};
use shared::domain::search_budget::{ENTRIES_MAX, USERS_MAX, counted_matches};
use shared::domain::user::User;
use shared::store::Tx;
use testkit::{Answer, Env, get, on_both_engines, post};

const USERS: usize = 2000;
const FIRST: &[&str] =
    &["Maria", "Marius", "Mark", "John", "Johanna", "Ahmed", "Akira", "Olga", "Olivia", "Peter", "Petra", "Zoe"];
const LAST: &[&str] = &["Smith", "Hunter", "Garcia", "Ivanova", "Tanaka", "Okafor", "Müller", "Rossi"];
const TAGS: &[&str] =
    &["vip", "beta", "red", "blue", "green", "admin", "guest", "ios", "android", "web", "Paid", "trial"];

/// A small deterministic generator, so failures reproduce.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: usize) -> usize {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % bound as u64) as usize
    }
}

fn make_user(rng: &mut Lcg, id: i64, app_id: i64, now: i64, generation: usize) -> User {
    let tags: BTreeSet<String> = (0..rng.next(6)).map(|_| TAGS[rng.next(TAGS.len())].to_string()).collect();
    let first = FIRST[rng.next(FIRST.len())];
    let last = LAST[rng.next(LAST.len())];
    User {
        id,
        app_id,
        login: Some(format!("u{id}_{generation}_{}", first.to_lowercase())),
        email: Some(format!("{}.{id}.{generation}@example.com", first.to_lowercase())),
        full_name: Some(format!("{first} {last} {}", rng.next(50))),
        tags: tags.into_iter().collect(),
        password_hash: Some(
            "$argon2id$v=19$m=19456,t=2,p=1$c2VlZGVkc2VlZGVk$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
        ),
        created_at: now - rng.next(1000) as i64,
        updated_at: now,
        version: 1,
        ..User::default()
    }
}

/// Writes `work` transactions with up to 8 in flight (more only queue up inside DynamoDB
/// Local on a 2-core machine), on the patient client: seeding is setup, and DynamoDB Local
/// sharing the machine with a build can take longer than the production timeouts.
async fn write_all(env: &Env, work: Vec<Tx>) {
    let patient = env.patient_deps().store;
    let mut set = tokio::task::JoinSet::new();
    for tx in work {
        if set.len() >= 8 {
            set.join_next().await.unwrap().unwrap();
        }
        let store = patient.clone();
        set.spawn(async move { store.commit(tx).await.expect("seed write") });
    }
    while let Some(done) = set.join_next().await {
        done.unwrap();
    }
}

struct Directory<'a> {
    env: &'a Env,
    token: String,
    users: Vec<User>,
}

impl Directory<'_> {
    /// Every page of a V2 query, with `limit` per page, and each page's (offset, limit,
    /// total_entries).
    async fn all_pages(&self, query: &str, limit: usize) -> (Vec<i64>, Vec<(usize, usize, usize)>) {
        let mut ids = Vec::new();
        let mut totals = Vec::new();
        loop {
            let path = format!("/users/v2.json?{query}&limit={limit}&offset={}", ids.len());
            let resp =
                Answer::from(cube_auth::router::dispatch(&self.env.deps, get(&path).token(&self.token).build()).await);
            assert_eq!(resp.status, 200, "{query}: {}", String::from_utf8_lossy(&resp.body));
            let body = resp.json();
            let page_total = body["total_entries"].as_u64().unwrap() as usize;
            let page: Vec<i64> = body["items"].as_array().unwrap().iter().map(|u| u["id"].as_i64().unwrap()).collect();
            let effective = body["limit"].as_u64().unwrap() as usize;
            totals.push((ids.len(), effective, page_total));
            if page.is_empty() {
                break;
            }
            assert!(page.len() <= effective);
            ids.extend(page);
            if ids.len() >= page_total {
                break;
            }
        }
        (ids, totals)
    }

    /// Asserts a V2 query returns exactly the users `expected` selects, in id order.
    async fn check(&self, query: &str, limit: usize, expected: impl Fn(&User) -> bool) {
        let mut want: Vec<i64> = self.users.iter().filter(|u| expected(u)).map(|u| u.id).collect();
        want.sort_unstable();
        let (got, totals) = self.all_pages(query, limit).await;
        for (offset, limit, total) in totals {
            // Exact (always for id, login and email lists, which read every user they name;
            // otherwise when the matches end within the next page), else "at least" the count
            // up to the next page and one more.
            let counted = want.len().min(counted_matches(offset, limit));
            assert!(total == want.len() || total == counted, "{query}: total_entries {total} at offset {offset}");
        }
        assert_eq!(got, want, "{query}: ids, in order, over every page");
        assert_eq!(got.iter().collect::<BTreeSet<_>>().len(), got.len(), "{query}: no id twice");
    }

    async fn check_all(&self, rng: &mut Lcg) {
        let pick = |rng: &mut Lcg| &self.users[rng.next(self.users.len())];
        // An id list with some ids that do not exist.
        let mut list: Vec<i64> = (0..40).map(|_| pick(rng).id).collect();
        list.extend([0, 999_999_999]);
        let query = list.iter().map(|id| format!("id[in][]={id}")).collect::<Vec<_>>().join("&");
        let wanted: BTreeSet<i64> = list.iter().copied().collect();
        self.check(&query, 100, |u| wanted.contains(&u.id)).await;
        // Logins and emails, alone and as lists, any case.
        for _ in 0..5 {
            let user = pick(rng);
            let login = user.login.clone().unwrap();
            self.check(&format!("login={}", login.to_uppercase()), 100, |u| u.login.as_deref() == Some(login.as_str()))
                .await;
            let email = user.email.clone().unwrap();
            self.check(&format!("email={email}"), 100, |u| u.email.as_deref() == Some(email.as_str())).await;
        }
        let logins: Vec<String> = (0..30).map(|_| pick(rng).login.clone().unwrap()).collect();
        let query = format!("login[in]={}", logins.join(","));
        self.check(&query, 7, |u| logins.contains(u.login.as_ref().unwrap())).await;
        // Name prefixes (pages of five, as start_with forces).
        for prefix in ["mari", "Mark", "johanna s", "olga ivanova 1", "zoe s", "ahme"] {
            let normalised = normalise(prefix);
            let query = format!("full_name[start_with]={}", prefix.replace(' ', "%20"));
            self.check(&query, 5, |u| normalise(u.full_name.as_deref().unwrap_or("")).starts_with(&normalised)).await;
        }
        // Tags: each alone with uneven pages, pairs, and an exclusion.
        for tag in TAGS {
            let t = normalise_tag(tag);
            self.check(&format!("user_tags={tag}"), 37, |u| u.tag_keys().contains(&t)).await;
        }
        self.check("user_tags[in][]=red&user_tags[in][]=blue", 100, |u| {
            let tags = u.tag_keys();
            tags.contains(&"red".to_string()) || tags.contains(&"blue".to_string())
        })
        .await;
        // A tag and a date range: in id order, and in created_at order (by key).
        let bound = self.users[self.users.len() / 2].created_at;
        self.check(&format!("user_tags=green&created_at[gt]={bound}"), 30, |u| {
            u.tag_keys().contains(&"green".to_string()) && u.created_at > bound
        })
        .await;
        self.check(&format!("user_tags=beta&created_at[lte]={}", bound - 900), 30, |u| {
            u.tag_keys().contains(&"beta".to_string()) && u.created_at <= bound - 900
        })
        .await;
        // A prefix with an exclusion, and an exact name.
        let excluded = self.users[3].id;
        self.check(&format!("full_name[start_with]=olga&id[nin][]={excluded}"), 5, |u| {
            u.id != excluded && normalise(u.full_name.as_deref().unwrap_or("")).starts_with("olga")
        })
        .await;
        let name = self.users[5].full_name.clone().unwrap();
        self.check(&format!("full_name={}", name.replace(' ', "%20")), 2, |u| u.full_name == Some(name.clone())).await;
        self.check("user_tags[in][]=vip&user_tags[nin][]=paid", 100, |u| {
            let tags = u.tag_keys();
            tags.contains(&"vip".to_string()) && !tags.contains(&"paid".to_string())
        })
        .await;
    }
}

async fn v2_matches_brute_force_over_2000_users_before_and_after_writes(env: &Env) {
    let app = env.app(AppSettings::default()).await;
    let now = env.clock().now();
    let mut rng = Lcg(0x5eed);
    let mut users = Vec::with_capacity(USERS);
    let mut work = Vec::with_capacity(USERS);
    for _ in 0..USERS {
        let id = env.store().next_id("users").await.unwrap();
        let user = make_user(&mut rng, id, app.id, now, 0);
        let mut tx = Tx::new();
        env.store().tx_insert_user(&mut tx, &user, now);
        work.push(tx);
        users.push(user);
    }
    write_all(env, work).await;
    let token = {
        let body = json!({"application_id": app.id, "auth_key": app.auth_key});
        let resp = Answer::from(cube_auth::router::dispatch(&env.deps, post("/session").json(body).build()).await);
        resp.json()["session"]["token"].as_str().unwrap().to_string()
    };
    let mut directory = Directory { env, token, users };
    directory.check_all(&mut rng).await;

    // 200 updates (new names, logins, emails and tags) and 100 deletes.
    let mut work = Vec::new();
    for i in 0..200 {
        let old = directory.users[i * 7].clone();
        let mut new = make_user(&mut rng, old.id, app.id, now + 1, 1);
        new.version = old.version + 1;
        let mut tx = Tx::new();
        env.store().tx_replace_user(&mut tx, &old, &new, now + 1);
        work.push(tx);
        directory.users[i * 7] = new;
    }
    write_all(env, work).await;
    let mut work = Vec::new();
    for i in 0..100 {
        let gone = directory.users.remove(i * 13);
        let mut tx = Tx::new();
        env.store().tx_delete_user(&mut tx, &gone);
        work.push(tx);
    }
    write_all(env, work).await;
    directory.check_all(&mut rng).await;
    let remaining: Value = directory.users.len().into();
    assert_eq!(remaining, json!(USERS - 100));
}

/// `size` users that all carry the tag `crowd` and one phone, seeded in bulk with a signup's
/// items; half of them also carry `even`.
async fn crowd(env: &Env, size: usize) -> (String, Vec<User>) {
    let app = env.app(AppSettings { users_v1_listing: true, ..AppSettings::default() }).await;
    let base = env.clock().now() - 100_000;
    let mut users = Vec::with_capacity(size);
    for i in 0..size {
        let id = env.store().next_id("users").await.unwrap();
        let mut tags = vec!["crowd".to_string()];
        if i % 2 == 0 {
            tags.push("even".into());
        }
        users.push(User {
            id,
            app_id: app.id,
            login: Some(format!("crowd{i}")),
            full_name: Some(format!("Crowdperson {:05}", (i * 7919) % size)),
            phone: Some("5550100".into()),
            tags,
            created_at: base + (i as i64 * 37) % size as i64,
            updated_at: base,
            version: 1,
            ..User::default()
        });
    }
    env.seed_users(&users).await;
    let body = json!({"application_id": app.id, "auth_key": app.auth_key});
    let resp = Answer::from(cube_auth::router::dispatch(&env.deps, post("/session").json(body).build()).await);
    (resp.json()["session"]["token"].as_str().unwrap().to_string(), users)
}

/// One search shape: its path, every match in the order asked for, and the page asked for.
struct Shape {
    path: &'static str,
    matches: fn(&[User]) -> Vec<i64>,
    offset: usize,
    limit: usize,
}

fn ids_where(users: &[User], keep: impl Fn(&User) -> bool) -> Vec<i64> {
    let mut ids: Vec<i64> = users.iter().filter(|u| keep(u)).map(|u| u.id).collect();
    ids.sort_unstable();
    ids
}

fn by_name(users: &[User], descending: bool, keep: impl Fn(&User) -> bool) -> Vec<i64> {
    let mut found: Vec<&User> = users.iter().filter(|u| keep(u)).collect();
    found.sort_by_key(|u| (normalise(u.full_name.as_deref().unwrap_or_default()), u.id));
    if descending {
        found.reverse();
    }
    found.into_iter().map(|u| u.id).collect()
}

fn by_created(users: &[User], descending: bool, keep: impl Fn(&User) -> bool) -> Vec<i64> {
    let mut found: Vec<&User> = users.iter().filter(|u| keep(u)).collect();
    found.sort_by_key(|u| (u.created_at, u.id));
    if descending {
        found.reverse();
    }
    found.into_iter().map(|u| u.id).collect()
}

const SHAPES: &[Shape] = &[
    Shape {
        path: "/users/v2.json?user_tags=crowd&limit=10",
        matches: |u| ids_where(u, |_| true),
        offset: 0,
        limit: 10,
    },
    Shape {
        path: "/users/v2.json?user_tags=crowd&sort_desc=id&offset=20&limit=10",
        matches: |u| ids_where(u, |_| true).into_iter().rev().collect(),
        offset: 20,
        limit: 10,
    },
    Shape {
        path: "/users/v2.json?user_tags=crowd&created_at[gt]=CREATED&sort_asc=created_at&limit=10",
        matches: |u| {
            let bound = created_bound(u);
            by_created(u, false, |x| x.created_at > bound)
        },
        offset: 0,
        limit: 10,
    },
    Shape {
        path: "/users/v2.json?user_tags[]=crowd&user_tags[]=even&created_at[lte]=CREATED&sort_desc=created_at&offset=10&limit=10",
        matches: |u| {
            let bound = created_bound(u);
            by_created(u, true, |x| x.created_at <= bound)
        },
        offset: 10,
        limit: 10,
    },
    Shape {
        path: "/users/v2.json?user_tags[in][]=crowd&user_tags[nin][]=even&limit=10",
        matches: |u| ids_where(u, |x| !x.tags.contains(&"even".to_string())),
        offset: 0,
        limit: 10,
    },
    Shape { path: "/users/v2.json?phone=5550100&limit=10", matches: |u| ids_where(u, |_| true), offset: 0, limit: 10 },
    Shape {
        path: "/users/v2.json?full_name[start_with]=crowdp&sort_asc=full_name",
        matches: |u| by_name(u, false, |_| true),
        offset: 0,
        limit: 5,
    },
    Shape {
        path: "/users/v2.json?full_name[start_with]=crowdperson%200&id[nin][]=FIRST&sort_desc=full_name&offset=5",
        matches: |u| {
            by_name(u, true, |x| {
                x.id != u[0].id && x.full_name.as_deref().unwrap_or_default().starts_with("Crowdperson 0")
            })
        },
        offset: 5,
        limit: 5,
    },
    Shape {
        path: "/users/v2.json?login=crowd7",
        matches: |u| ids_where(u, |x| x.login.as_deref() == Some("crowd7")),
        offset: 0,
        limit: 100,
    },
    Shape {
        path: "/users/by_tags.json?tags=crowd&page=2&per_page=10",
        matches: |u| ids_where(u, |_| true),
        offset: 10,
        limit: 10,
    },
    Shape { path: "/users.json?per_page=10", matches: |u| ids_where(u, |_| true), offset: 0, limit: 10 },
    Shape {
        path: "/users.json?order=desc+date+created_at&per_page=10",
        matches: |u| by_created(u, true, |_| true),
        offset: 0,
        limit: 10,
    },
    // V1 filters that name their users (Flutter's getAllUsersByIds, SDK 6's
    // users.get({external_user_id})) read those users, not the application's.
    Shape {
        path: "/users.json?filter[]=number+id+in+FIRST,1,2&per_page=10",
        matches: |u| ids_where(u, |x| x.id == u[0].id),
        offset: 0,
        limit: 10,
    },
    Shape {
        path: "/users.json?filter[]=string+login+in+crowd7,crowd9&filter[]=string+phone+eq+5550100",
        matches: |u| ids_where(u, |x| matches!(x.login.as_deref(), Some("crowd7" | "crowd9"))),
        offset: 0,
        limit: 10,
    },
    Shape {
        path: "/users.json?login=crowd8",
        matches: |u| ids_where(u, |x| x.login.as_deref() == Some("crowd8")),
        offset: 0,
        limit: 10,
    },
];

/// The `created_at` bound of the shape that filters on it: half the users are after it.
fn created_bound(users: &[User]) -> i64 {
    let mut dates: Vec<i64> = users.iter().map(|u| u.created_at).collect();
    dates.sort_unstable();
    dates[dates.len() / 2]
}

/// Sends one shape's request; returns its page of ids, total_entries and DynamoDB items read.
async fn send(env: &Env, token: &str, path: &str) -> (u16, Value, usize) {
    let (resp, log) =
        shared::trips::logged(cube_auth::router::dispatch(&env.deps, get(path).token(token).build())).await;
    let resp = Answer::from(resp);
    let body = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
    (resp.status, body, log.items)
}

fn page_of(body: &Value) -> Vec<i64> {
    let items = body["items"].as_array().cloned().unwrap_or_default();
    items.iter().map(|i| i["user"]["id"].as_i64().or_else(|| i["id"].as_i64()).unwrap()).collect()
}

/// Every query shape reads no more DynamoDB items with 5,000 users (2,500 to 5,000 matches)
/// than with 100 (50 to 100 matches), and
/// answers what a brute-force filter over the same users answers; what the budget cannot
/// answer is a 422 that names the rule, at a bounded cost.
async fn search_reads_stay_flat_from_50_to_5000_matches(env: &Env) {
    // A hundred users, so that the shapes that keep half of them still match 50.
    let small = crowd(env, 100).await;
    let big = crowd(env, 5000).await;
    for shape in SHAPES {
        let mut reads = Vec::new();
        for (token, users) in [&small, &big] {
            let path = shape
                .path
                .replace("CREATED", &created_bound(users).to_string())
                .replace("FIRST", &users[0].id.to_string());
            let (status, body, items) = send(env, token, &path).await;
            assert_eq!(status, 200, "{path} at {}: {body}", users.len());
            let want = (shape.matches)(users);
            let page: Vec<i64> = want.iter().copied().skip(shape.offset).take(shape.limit).collect();
            let path = format!("{path} at {} users", users.len());
            if body.get("user").is_none() {
                assert_eq!(page_of(&body), page, "{path}: the brute-force page");
                let counted = want.len().min(counted_matches(shape.offset, shape.limit));
                assert_eq!(body["total_entries"].as_u64().unwrap() as usize, counted, "{path}: total_entries");
            }
            reads.push(items);
        }
        assert!(reads[1] <= reads[0], "{}: {} items read at 5,000 users, {} at 100", shape.path, reads[1], reads[0]);
    }
    let broad = [
        ("/users/v2.json?full_name[start_with]=crowdp", "too broad to sort by id"),
        ("/users/v2.json?user_tags=crowd&updated_at[gt]=0&offset=900&limit=100", "Search too broad"),
        ("/users.json?order=asc+string+full_name", "too broad"),
    ];
    for (path, rule) in broad {
        assert_eq!(send(env, &small.0, path).await.0, 200, "{path} at 100 users");
        let (status, body, items) = send(env, &big.0, path).await;
        assert_eq!(status, 422, "{path} at 5,000 users: {body}");
        assert!(body.to_string().contains(rule), "{path}: {body}");
        assert!(items <= ENTRIES_MAX + USERS_MAX + 10, "{path}: {items} items read before refusing");
    }
    let (status, body, _) = send(env, &big.0, "/users/v2.json?user_tags=crowd&offset=1001").await;
    assert_eq!(status, 422, "{body}");
    let (status, body, _) = send(env, &big.0, "/users/by_tags.json?tags=crowd&page=102&per_page=10").await;
    assert_eq!(status, 422, "{body}");
}

/// Both checks on one table, one after the other (each seeds thousands of users).
async fn search_at_scale(env: &Env) {
    v2_matches_brute_force_over_2000_users_before_and_after_writes(env).await;
    search_reads_stay_flat_from_50_to_5000_matches(env).await;
    env.drop_table().await;
}

on_both_engines!(search_at_scale);
