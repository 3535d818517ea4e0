//! The cost of one access decision: Locus's `decide` against two general policy
//! engines, cedar-policy and casbin, holding the same role x permission matrix.
//!
//! All three are fed from `crates/locus-core/permissions.csv` (7 roles x 38
//! permissions): Locus compiles it into a bit table at build time, and this bench
//! turns the same file, when it starts, into Cedar action groups (one per role,
//! holding the actions its column grants) with one `permit` per role, and into
//! casbin's RBAC-with-domains `p` lines; the matrix is never retyped. casbin's
//! plain `Enforcer` is used, not the `CachedEnforcer`, whose memoised answers
//! would time a hash lookup rather than a decision.
//!
//! Before anything is timed, the three engines must agree on every one of the
//! 266 cells for an ENABLED member, and must all deny a non-member and a
//! DISABLED member of each role for every permission; the bench panics with the
//! first cell where they differ.
//!
//! Only the decision is timed. Cedar's entities, policy set, authorizer and
//! requests, and casbin's model, policies, groupings and enforcer (whose
//! construction is async, run on a tokio runtime) are all built beforehand:
//! in a server they would be built once or kept in memory across requests, so
//! putting their construction inside the loop would measure set-up, not the
//! decision. What is timed is `decide` (Locus), `Authorizer::is_authorized`
//! (cedar) and `Enforcer::enforce` (casbin), which each take the request as it
//! is prepared for them and answer allow or deny.
//!
//! Two benches per engine: `all 266 cells` walks the whole matrix once per
//! iteration (per-decision time = iteration time / 266; criterion also reports
//! it as throughput in elements per second), and `one cell` asks a single
//! representative question (EDITOR, `md.update_all`, allowed).
//!
//! Run: `cargo bench -p locus-bench --bench decision`.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use casbin::{CoreApi, DefaultModel, Enforcer, MemoryAdapter, MgmtApi};
use cedar_policy::{Authorizer, Context, Decision as CedarDecision, Entities, Entity, EntityUid, PolicySet, Request, RestrictedExpression};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use locus_core::{decide, AccessRequest, Decision, MembershipStatus, Ownership, Permission, Principal, Role};

/// The matrix, as the file says it: parsed at start, never retyped.
const PERMISSIONS_CSV: &str = include_str!("../../locus-core/permissions.csv");

/// The project every request is about.
const PROJECT: &str = "p1";

/// The representative cell of the `one cell` benches.
const ONE_CELL: (Role, &str) = (Role::Editor, "md.update_all");

/// One row of the CSV: a permission key and, per role column, whether it is granted.
struct Row {
    key: String,
    grants: Vec<bool>,
}

/// The CSV's role columns (header names) and rows.
struct Matrix {
    roles: Vec<String>,
    rows: Vec<Row>,
}

impl Matrix {
    /// Parses `category,permission,key,ROLE…` with 0/1 cells. The key is taken
    /// as the 8th field from the end, so a label with a comma cannot shift it.
    fn parse(csv: &str) -> Matrix {
        const ROLES: usize = 7;
        let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
        let header: Vec<&str> = lines.next().expect("permissions.csv has a header").split(',').collect();
        assert!(header.len() > ROLES, "permissions.csv header too short: {header:?}");
        let roles: Vec<String> = header[header.len() - ROLES..].iter().map(|s| s.trim().to_owned()).collect();
        let rows = lines
            .map(|line| {
                let fields: Vec<&str> = line.split(',').collect();
                assert!(fields.len() > ROLES, "permissions.csv row too short: {line}");
                let n = fields.len();
                let grants = fields[n - ROLES..]
                    .iter()
                    .map(|cell| match cell.trim() {
                        "1" => true,
                        "0" => false,
                        other => panic!("permissions.csv cell {other:?} is neither 0 nor 1 in: {line}"),
                    })
                    .collect();
                Row {
                    key: fields[n - ROLES - 1].trim().to_owned(),
                    grants,
                }
            })
            .collect();
        Matrix { roles, rows }
    }

    /// Keys granted to the role in column `column`, in file order.
    fn granted(&self, column: usize) -> impl Iterator<Item = &str> {
        self.rows.iter().filter(move |r| r.grants[column]).map(|r| r.key.as_str())
    }
}

/// One question put to the three engines: may a user of `role` (or a user
/// without that membership, see [`Case`]) do `permission` in the project?
#[derive(Clone, Copy)]
struct Cell {
    role: Role,
    permission: Permission,
}

/// Who asks.
#[derive(Clone, Copy, Debug)]
enum Case {
    /// An ENABLED member of the cell's role: the matrix decides.
    Member,
    /// A user with no membership in the project: always denied.
    NonMember,
    /// A member of the cell's role whose membership is DISABLED: always denied.
    Disabled,
}

impl Case {
    /// The user name both policy engines know this caller by.
    fn user(self, role: Role) -> String {
        match self {
            Case::Member => format!("member:{}", role.as_str()),
            Case::NonMember => "stranger".to_owned(),
            Case::Disabled => format!("disabled:{}", role.as_str()),
        }
    }
}

/// Locus: the request as the server gathers it. `.delete_own` permissions are
/// asked about the caller's own object, so the matrix cell alone decides.
fn locus_request(case: Case, cell: Cell) -> AccessRequest {
    let membership = match case {
        Case::Member => Some((cell.role, MembershipStatus::Enabled)),
        Case::NonMember => None,
        Case::Disabled => Some((cell.role, MembershipStatus::Disabled)),
    };
    let ownership = if cell.permission.key().ends_with(".delete_own") {
        Ownership::Own
    } else {
        Ownership::NotApplicable
    };
    AccessRequest {
        principal: Principal::Member,
        account_active: true,
        project_enabled: true,
        membership,
        permission: cell.permission,
        ownership,
    }
}

fn locus_allows(request: &AccessRequest) -> bool {
    matches!(decide(request), Decision::Allow)
}

/// Cedar: one `permit` per role over its action group, and a `forbid` for
/// disabled memberships. A disabled member keeps its role parent, so its denial
/// comes from the `forbid`, as Locus's comes from the status check. (Action
/// groups measured faster here than listing each role's actions in its `permit`.)
struct CedarModel {
    authorizer: Authorizer,
    policies: PolicySet,
    entities: Entities,
}

/// Prefix of the action groups, one per role, whose members are the actions the role's column grants.
const ACTION_GROUP: &str = "granted-to:";

fn cedar_uid(type_name: &str, id: &str) -> EntityUid {
    assert!(!id.contains(['"', '\\']), "identifier {id:?} would need escaping in Cedar");
    EntityUid::from_str(&format!("{type_name}::\"{id}\"")).expect("entity uid")
}

impl CedarModel {
    fn build(matrix: &Matrix) -> CedarModel {
        let mut text = String::new();
        for role in &matrix.roles {
            text.push_str(&format!(
                "permit(principal in Role::\"{role}\", action in Action::\"{ACTION_GROUP}{role}\", resource in Project::\"{PROJECT}\");\n"
            ));
        }
        text.push_str("forbid(principal, action, resource) when { principal.disabled };\n");
        let policies = PolicySet::from_str(&text).expect("generated Cedar policies parse");

        let user = |id: String, disabled: bool, role: Option<&str>| {
            let attrs = HashMap::from([("disabled".to_owned(), RestrictedExpression::new_bool(disabled))]);
            let parents = role.map(|r| cedar_uid("Role", r)).into_iter().collect::<HashSet<_>>();
            Entity::new(cedar_uid("User", &id), attrs, parents).expect("user entity")
        };
        let mut entities = vec![
            Entity::new_no_attrs(cedar_uid("Project", PROJECT), HashSet::new()),
            user(Case::NonMember.user(Role::Viewer), false, None),
        ];
        for role in Role::ALL {
            entities.push(Entity::new_no_attrs(cedar_uid("Role", role.as_str()), HashSet::new()));
            entities.push(user(Case::Member.user(role), false, Some(role.as_str())));
            entities.push(user(Case::Disabled.user(role), true, Some(role.as_str())));
        }
        for role in &matrix.roles {
            entities.push(Entity::new_no_attrs(
                cedar_uid("Action", &format!("{ACTION_GROUP}{role}")),
                HashSet::new(),
            ));
        }
        for row in &matrix.rows {
            let groups = matrix
                .roles
                .iter()
                .zip(&row.grants)
                .filter(|(_, granted)| **granted)
                .map(|(role, _)| cedar_uid("Action", &format!("{ACTION_GROUP}{role}")))
                .collect();
            entities.push(Entity::new_no_attrs(cedar_uid("Action", &row.key), groups));
        }
        let entities = Entities::from_entities(entities, None).expect("Cedar entities");

        CedarModel {
            authorizer: Authorizer::new(),
            policies,
            entities,
        }
    }

    fn request(case: Case, cell: Cell) -> Request {
        Request::new(
            cedar_uid("User", &case.user(cell.role)),
            cedar_uid("Action", cell.permission.key()),
            cedar_uid("Project", PROJECT),
            Context::empty(),
            None,
        )
        .expect("Cedar request")
    }

    fn allows(&self, request: &Request) -> bool {
        self.authorizer.is_authorized(request, &self.policies, &self.entities).decision() == CedarDecision::Allow
    }

    /// Like [`Self::allows`], but refuses a decision reached through an evaluation error.
    fn allows_checked(&self, request: &Request) -> bool {
        let response = self.authorizer.is_authorized(request, &self.policies, &self.entities);
        let errors: Vec<String> = response.diagnostics().errors().map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "Cedar evaluation errors for {request}: {errors:?}");
        response.decision() == CedarDecision::Allow
    }
}

/// casbin: RBAC with domains, the object dropped (every request is about the
/// project itself). The cheap string comparisons come before `g()` so the role
/// lookup runs only for policy lines of the asked action in the asked domain
/// (measured faster here than the usual `g(…) && …` order).
const CASBIN_MODEL: &str = "
[request_definition]
r = sub, dom, act

[policy_definition]
p = sub, dom, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.dom == p.dom && r.act == p.act && g(r.sub, p.sub, r.dom)
";

/// casbin's arguments for one request: (user, domain, action).
type CasbinRequest = (String, &'static str, &'static str);

/// Only ENABLED memberships are synced into casbin as `g` lines: a non-member
/// and a disabled member have no grouping, so no `p` line reaches them.
fn casbin_build(matrix: &Matrix, runtime: &tokio::runtime::Runtime) -> Enforcer {
    runtime.block_on(async {
        let model = DefaultModel::from_str(CASBIN_MODEL).await.expect("casbin model");
        let mut enforcer = Enforcer::new(model, MemoryAdapter::default()).await.expect("casbin enforcer");
        let policies: Vec<Vec<String>> = matrix
            .roles
            .iter()
            .enumerate()
            .flat_map(|(column, role)| {
                matrix
                    .granted(column)
                    .map(move |key| vec![role.clone(), PROJECT.to_owned(), key.to_owned()])
            })
            .collect();
        assert!(enforcer.add_policies(policies).await.expect("casbin policies"));
        let groupings: Vec<Vec<String>> = Role::ALL
            .iter()
            .map(|role| vec![Case::Member.user(*role), role.as_str().to_owned(), PROJECT.to_owned()])
            .collect();
        assert!(enforcer.add_grouping_policies(groupings).await.expect("casbin groupings"));
        enforcer
    })
}

fn casbin_request(case: Case, cell: Cell) -> CasbinRequest {
    (case.user(cell.role), PROJECT, cell.permission.key())
}

fn casbin_allows(enforcer: &Enforcer, request: &CasbinRequest) -> bool {
    enforcer
        .enforce((request.0.as_str(), request.1, request.2))
        .expect("casbin enforce")
}

/// The 7 x 38 cells, role-major, with the permission resolved from the CSV key.
fn cells(matrix: &Matrix) -> Vec<Cell> {
    for role in Role::ALL {
        assert!(
            matrix.roles.iter().any(|r| r == role.as_str()),
            "role {role} has no column in permissions.csv"
        );
    }
    assert_eq!(matrix.roles.len(), Role::ALL.len(), "permissions.csv role columns");
    assert_eq!(matrix.rows.len(), Permission::ALL.len(), "permissions.csv rows");
    let permissions: Vec<Permission> = matrix
        .rows
        .iter()
        .map(|row| Permission::from_key(&row.key).unwrap_or_else(|| panic!("unknown key {} in permissions.csv", row.key)))
        .collect();
    Role::ALL
        .into_iter()
        .flat_map(|role| permissions.iter().map(move |&permission| Cell { role, permission }))
        .collect()
}

/// The three engines must give the same answer for every cell and caller, and
/// the member answers must be the CSV's own cells. Returns how many questions were checked.
fn assert_agreement(matrix: &Matrix, cells: &[Cell], cedar: &CedarModel, casbin: &Enforcer) -> usize {
    let mut checked = 0;
    for case in [Case::Member, Case::NonMember, Case::Disabled] {
        for &cell in cells {
            let locus = locus_allows(&locus_request(case, cell));
            let cedar = cedar.allows_checked(&CedarModel::request(case, cell));
            let casbin = casbin_allows(casbin, &casbin_request(case, cell));
            let expected = match case {
                Case::Member => {
                    let column = matrix.roles.iter().position(|r| r == cell.role.as_str()).expect("role column");
                    let row = matrix.rows.iter().find(|r| r.key == cell.permission.key()).expect("key row");
                    row.grants[column]
                }
                Case::NonMember | Case::Disabled => false,
            };
            assert!(
                locus == expected && cedar == expected && casbin == expected,
                "engines disagree on {case:?} {} {}: csv={expected} locus={locus} cedar={cedar} casbin={casbin}",
                cell.role,
                cell.permission.key()
            );
            checked += 1;
        }
    }
    checked
}

fn decision(c: &mut Criterion) {
    let matrix = Matrix::parse(PERMISSIONS_CSV);
    let cells = cells(&matrix);
    assert_eq!(cells.len(), 7 * 38, "the matrix is 7 roles x 38 permissions");

    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("tokio runtime");
    let cedar = CedarModel::build(&matrix);
    let casbin = casbin_build(&matrix, &runtime);

    let checked = assert_agreement(&matrix, &cells, &cedar, &casbin);
    assert_eq!(checked, 3 * cells.len());
    let granted = cells
        .iter()
        .filter(|&&cell| locus_allows(&locus_request(Case::Member, cell)))
        .count();
    println!(
        "decision: locus, cedar and casbin agree on all {} member cells ({granted} allowed), \
         and deny the non-member and the disabled member on all of them ({checked} questions)",
        cells.len()
    );

    let locus_requests: Vec<AccessRequest> = cells.iter().map(|&c| locus_request(Case::Member, c)).collect();
    let cedar_requests: Vec<Request> = cells.iter().map(|&c| CedarModel::request(Case::Member, c)).collect();
    let casbin_requests: Vec<CasbinRequest> = cells.iter().map(|&c| casbin_request(Case::Member, c)).collect();

    let mut all = c.benchmark_group("decision/all 266 cells");
    all.throughput(Throughput::Elements(cells.len() as u64));
    all.bench_function("locus", |b| {
        b.iter(|| {
            for request in &locus_requests {
                black_box(decide(black_box(request)));
            }
        })
    });
    all.bench_function("cedar", |b| {
        b.iter(|| {
            for request in &cedar_requests {
                black_box(cedar.allows(black_box(request)));
            }
        })
    });
    all.bench_function("casbin", |b| {
        b.iter(|| {
            for request in &casbin_requests {
                black_box(casbin_allows(&casbin, black_box(request)));
            }
        })
    });
    all.finish();

    let one = cells
        .iter()
        .position(|cell| cell.role == ONE_CELL.0 && cell.permission.key() == ONE_CELL.1)
        .expect("the representative cell is in the matrix");
    let mut single = c.benchmark_group(format!("decision/one cell ({} {})", ONE_CELL.0, ONE_CELL.1));
    single.throughput(Throughput::Elements(1));
    single.bench_function("locus", |b| b.iter(|| black_box(decide(black_box(&locus_requests[one])))));
    single.bench_function("cedar", |b| b.iter(|| black_box(cedar.allows(black_box(&cedar_requests[one])))));
    single.bench_function("casbin", |b| {
        b.iter(|| black_box(casbin_allows(&casbin, black_box(&casbin_requests[one]))))
    });
    single.finish();
}

criterion_group!(benches, decision);
criterion_main!(benches);
