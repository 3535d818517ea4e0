//! The query language (api-contract.md §10.2–10.3) read from JSON into typed
//! nodes, with metrics expanded in place and every node carrying the JSON
//! path it came from, so that each error names the offending node.
//!
//! Parsing knows the model (datasets and metrics) but nothing of DataFusion:
//! a parsed query is checked (unknown datasets, properties, metrics, cycles,
//! arities, variables) before anything is planned.

use std::collections::HashMap;

use serde_json::Value;

use super::model::Model;
use super::QueryError;
use crate::PropertyType;

/// `dataset.property`, checked against the model.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PropRef {
    pub dataset: String,
    pub property: String,
}

impl PropRef {
    /// The column a property has in a joined frame.
    pub fn column(&self) -> String {
        format!("{}.{}", self.dataset, self.property)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggFunc {
    Sum,
    Count,
    CountDistinct,
    Avg,
    Min,
    Max,
    StddevSamp,
    StddevPop,
    VarSamp,
    VarPop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    Plus,
    Minus,
    Multiply,
    Divide,
    Modulo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowFunc {
    Ntile(i64),
    Rank,
    Percentile,
    RowNumber,
}

/// Options that an aggregate inherits from the function nodes (and metrics)
/// above it.
#[derive(Debug, Clone, Default)]
pub struct AggScope {
    /// `options.filterBy` of enclosing nodes: apply to this aggregate only.
    pub filters: Vec<Filter>,
    /// `options.withoutFilters`: query filters on these properties skip it.
    pub without: Vec<String>,
    /// `options.acceptAggregateBy` patterns (empty: any).
    pub accept: Vec<String>,
    /// `options.dontAggregateBy` patterns.
    pub dont: Vec<String>,
    /// The metric the aggregate belongs to, for messages.
    pub metric: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Node {
    Int(i64),
    Float(f64),
    Property(PropRef),
    Aggregate {
        func: AggFunc,
        arg: Box<Node>,
        scope: Box<AggScope>,
        path: String,
    },
    Arith {
        op: ArithOp,
        args: Vec<Node>,
    },
    IfNull(Box<Node>, Box<Node>),
    Round(Box<Node>, i64),
    PercentToTotal(Box<Node>),
    Window {
        func: WindowFunc,
        args: Vec<Node>,
        descending: bool,
        partition_by: Vec<String>,
    },
    Today,
    DateTrunc(Box<Node>, String),
    /// `function_interval`: months and days.
    Interval {
        months: i32,
        days: i32,
    },
    /// Great-circle metres from a point to a point dataset's rows.
    Distance {
        lat: PropRef,
        lng: PropRef,
        center: (f64, f64),
    },
    /// The H3 cell (hex index) of a point dataset's rows at a resolution.
    H3Cell {
        lat: PropRef,
        lng: PropRef,
        resolution: u8,
    },
}

impl Node {
    /// Calls `f` on this node and every node below it (not into filters).
    pub fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Node)) {
        f(self);
        match self {
            Node::Aggregate { arg, .. } => arg.walk(f),
            Node::Arith { args, .. } | Node::Window { args, .. } => args.iter().for_each(|a| a.walk(f)),
            Node::IfNull(a, b) => {
                a.walk(f);
                b.walk(f);
            }
            Node::Round(a, _) | Node::PercentToTotal(a) | Node::DateTrunc(a, _) => a.walk(f),
            _ => {}
        }
    }

    pub fn has_aggregate(&self) -> bool {
        let mut found = false;
        self.walk(&mut |n| found |= matches!(n, Node::Aggregate { .. }));
        found
    }

    /// Properties outside any aggregate (the node is then a dimension).
    pub fn bare_properties(&self) -> Vec<&PropRef> {
        let mut out = Vec::new();
        fn go<'a>(n: &'a Node, out: &mut Vec<&'a PropRef>) {
            match n {
                Node::Property(p) => out.push(p),
                Node::Distance { lat, lng, .. } | Node::H3Cell { lat, lng, .. } => {
                    out.push(lat);
                    out.push(lng);
                }
                Node::Aggregate { .. } => {}
                Node::Arith { args, .. } | Node::Window { args, .. } => args.iter().for_each(|a| go(a, out)),
                Node::IfNull(a, b) => {
                    go(a, out);
                    go(b, out);
                }
                Node::Round(a, _) | Node::PercentToTotal(a) | Node::DateTrunc(a, _) => go(a, out),
                _ => {}
            }
        }
        go(self, &mut out);
        out
    }

    /// Every property this node reads, aggregated or not.
    pub fn properties(&self) -> Vec<&PropRef> {
        let mut out = Vec::new();
        self.walk(&mut |n| match n {
            Node::Property(p) => out.push(p),
            Node::Distance { lat, lng, .. } | Node::H3Cell { lat, lng, .. } => {
                out.push(lat);
                out.push(lng);
            }
            _ => {}
        });
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
}

#[derive(Debug, Clone)]
pub enum Filter {
    Compare {
        target: Node,
        op: CompareOp,
        value: Value,
        path: String,
    },
    In {
        target: Node,
        values: Vec<Value>,
        path: String,
    },
    IsNull {
        target: Node,
        negated: bool,
    },
    InAttribute {
        target: Node,
        query: Box<Request>,
        negated: bool,
        path: String,
    },
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
}

impl Filter {
    /// Every property the filter reads on the rows it filters (not those
    /// of a subquery, which is planned on its own).
    pub fn properties(&self) -> Vec<&PropRef> {
        match self {
            Filter::Compare { target, .. }
            | Filter::In { target, .. }
            | Filter::IsNull { target, .. }
            | Filter::InAttribute { target, .. } => target.properties(),
            Filter::And(c) | Filter::Or(c) => c.iter().flat_map(Filter::properties).collect(),
            Filter::Not(f) => f.properties(),
        }
    }
}

/// A filter on an output column (`having`, `resultSetFilter`).
#[derive(Debug, Clone)]
pub struct ColumnFilter {
    pub column: String,
    pub filter: Filter,
}

#[derive(Debug, Clone)]
pub struct OrderBy {
    pub column: String,
    pub descending: bool,
    pub nulls_first: Option<bool>,
}

/// One output column.
#[derive(Debug, Clone)]
pub struct Output {
    pub id: String,
    pub node: Node,
    pub path: String,
}

/// A parsed DwhQueryRequest.
#[derive(Debug, Clone)]
pub struct Request {
    pub outputs: Vec<Output>,
    pub filters: Vec<(Filter, String)>,
    pub having: Vec<ColumnFilter>,
    pub result_filters: Vec<ColumnFilter>,
    pub order_by: Vec<OrderBy>,
    pub limit: Option<usize>,
}

fn err(path: &str, message: impl Into<String>) -> QueryError {
    QueryError::new(path, message)
}

/// Reads requests against one model, with the request's variables.
pub struct Parser<'m> {
    model: &'m Model,
    variables: HashMap<String, f64>,
    /// Metrics being expanded, to refuse a cycle.
    stack: Vec<String>,
}

impl<'m> Parser<'m> {
    pub fn new(model: &'m Model) -> Self {
        Parser {
            model,
            variables: HashMap::new(),
            stack: Vec::new(),
        }
    }

    /// Parses a whole DwhQueryRequest at `path` (empty for the top level).
    pub fn request(&mut self, body: &Value, path: &str) -> Result<Request, QueryError> {
        let at = |key: &str| if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") };
        let object = body.as_object().ok_or_else(|| err(path, "a query must be a JSON object"))?;
        for key in object.keys() {
            if !matches!(
                key.as_str(),
                "properties" | "filterBy" | "having" | "resultSetFilter" | "orderBy" | "variables" | "limit" | "executionContext"
            ) {
                return Err(err(&at(key), format!("unknown key {key:?}")));
            }
        }
        if let Some(vars) = object.get("variables").filter(|v| !v.is_null()) {
            let vars = vars.as_array().ok_or_else(|| err(&at("variables"), "must be an array"))?;
            for (i, v) in vars.iter().enumerate() {
                let p = format!("{}[{i}]", at("variables"));
                let name = v
                    .get("variable")
                    .and_then(Value::as_str)
                    .ok_or_else(|| err(&p, "variable (a name) is required"))?;
                let value = v
                    .get("value")
                    .and_then(Value::as_f64)
                    .ok_or_else(|| err(&p, "value (a number) is required"))?;
                self.variables.insert(name.to_owned(), value);
            }
        }
        let properties = object
            .get("properties")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| err(&at("properties"), "at least one property, metric or function is required"))?;
        let mut outputs = Vec::with_capacity(properties.len());
        for (i, node) in properties.iter().enumerate() {
            let p = format!("{}[{i}]", at("properties"));
            let id = match node.get("id") {
                Some(Value::String(id)) => {
                    if id.is_empty() || id.len() > 60 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                        return Err(err(&format!("{p}.id"), "an id is 1 to 60 letters, digits, _ or -"));
                    }
                    id.clone()
                }
                None | Some(Value::Null) => default_id(node, i),
                Some(_) => return Err(err(&format!("{p}.id"), "must be a string")),
            };
            if outputs.iter().any(|o: &Output| o.id == id) {
                return Err(err(&format!("{p}.id"), format!("id {id:?} is used by two columns")));
            }
            let parsed = self.node(node, &p, &AggScope::default())?;
            outputs.push(Output { id, node: parsed, path: p });
        }
        let mut filters = Vec::new();
        for (i, f) in array(object.get("filterBy"), &at("filterBy"))?.iter().enumerate() {
            let p = format!("{}[{i}]", at("filterBy"));
            filters.push((self.filter(f, &p)?, p));
        }
        let ids: Vec<&str> = outputs.iter().map(|o| o.id.as_str()).collect();
        let having = self.column_filters(object.get("having"), &at("having"), &ids, true)?;
        let result_filters = self.column_filters(object.get("resultSetFilter"), &at("resultSetFilter"), &ids, false)?;
        let mut order_by = Vec::new();
        for (i, o) in array(object.get("orderBy"), &at("orderBy"))?.iter().enumerate() {
            let p = format!("{}[{i}]", at("orderBy"));
            order_by.push(order(o, &p, &outputs)?);
        }
        let limit = match object.get("limit") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64() {
                Some(n) if n >= 1 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
                _ => return Err(err(&at("limit"), "must be an integer of at least 1")),
            },
        };
        Ok(Request {
            outputs,
            filters,
            having,
            result_filters,
            order_by,
            limit,
        })
    }

    fn column_filters(&mut self, v: Option<&Value>, path: &str, ids: &[&str], numeric: bool) -> Result<Vec<ColumnFilter>, QueryError> {
        let mut out = Vec::new();
        for (i, f) in array(v, path)?.iter().enumerate() {
            let p = format!("{path}[{i}]");
            let column = f
                .get("propertyId")
                .and_then(Value::as_str)
                .ok_or_else(|| err(&format!("{p}.propertyId"), "the id of an output column is required"))?;
            if !ids.contains(&column) {
                return Err(err(&format!("{p}.propertyId"), format!("no output column has the id {column:?}")));
            }
            let filter = self.filter_with(f, &p, Node::Int(0))?;
            if numeric {
                if let Filter::Compare { value, .. } = &filter {
                    if !value.is_number() {
                        return Err(err(&format!("{p}.value"), "a having value must be a number"));
                    }
                }
            }
            out.push(ColumnFilter {
                column: column.to_owned(),
                filter,
            });
        }
        Ok(out)
    }

    fn property(&self, value: Option<&Value>, path: &str) -> Result<PropRef, QueryError> {
        let text = value
            .and_then(Value::as_str)
            .ok_or_else(|| err(path, "a property \"dataset.property\" is required"))?;
        self.model.property(text).map_err(|m| err(path, m))
    }

    /// Parses a node; `scope` holds the options of the function nodes above.
    pub fn node(&mut self, v: &Value, path: &str, scope: &AggScope) -> Result<Node, QueryError> {
        let ty = v
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| err(&format!("{path}.type"), "a node needs a type"))?;
        let content = || -> Result<&Vec<Value>, QueryError> {
            v.get("content")
                .and_then(Value::as_array)
                .ok_or_else(|| err(&format!("{path}.content"), format!("{ty} needs content (an array of nodes)")))
        };
        let options = v.get("options").filter(|o| !o.is_null());
        if let Some(o) = options {
            if !o.is_object() {
                return Err(err(&format!("{path}.options"), "must be an object"));
            }
        }
        // Options that scope the aggregates below this node.
        let mut scope = scope.clone();
        if let Some(o) = options {
            self.extend_scope(&mut scope, o, &format!("{path}.options"))?;
        }
        let arity = |n: usize, exact: bool| -> Result<Vec<Value>, QueryError> {
            let c = content()?;
            if (exact && c.len() != n) || (!exact && c.len() < n) {
                let want = if exact { format!("exactly {n}") } else { format!("at least {n}") };
                return Err(err(
                    &format!("{path}.content"),
                    format!("{ty} takes {want} node(s), got {}", c.len()),
                ));
            }
            Ok(c.clone())
        };
        let child = |me: &mut Self, c: &Value, i: usize, scope: &AggScope| me.node(c, &format!("{path}.content[{i}]"), scope);
        Ok(match ty {
            "number" => match v.get("value") {
                Some(Value::Number(n)) => match n.as_i64() {
                    Some(i) => Node::Int(i),
                    None => Node::Float(n.as_f64().unwrap_or(f64::NAN)),
                },
                _ => return Err(err(&format!("{path}.value"), "a number is required")),
            },
            "variable" => {
                let name = v
                    .get("value")
                    .and_then(Value::as_str)
                    .ok_or_else(|| err(&format!("{path}.value"), "a variable name is required"))?;
                let value = self.variables.get(name).ok_or_else(|| {
                    err(
                        &format!("{path}.value"),
                        format!("variable {name:?} has no value in the query's variables"),
                    )
                })?;
                Node::Float(*value)
            }
            "property" => Node::Property(self.property(v.get("value"), &format!("{path}.value"))?),
            "metric" => {
                let link = v
                    .get("metric")
                    .and_then(Value::as_str)
                    .ok_or_else(|| err(&format!("{path}.metric"), "a metric link is required"))?;
                let (name, body) = self.model.metric(link).map_err(|m| err(&format!("{path}.metric"), m))?;
                if self.stack.contains(&name) {
                    let mut chain = self.stack.clone();
                    chain.push(name.clone());
                    return Err(err(
                        &format!("{path}.metric"),
                        format!("metrics refer to each other in a cycle: {}", chain.join(" → ")),
                    ));
                }
                self.stack.push(name.clone());
                let mut inner = scope.clone();
                inner.metric.get_or_insert_with(|| name.clone());
                let node = self.node(&body, &format!("metrics[{name}].content"), &inner);
                self.stack.pop();
                node?
            }
            "function_sum"
            | "function_count"
            | "function_count_dist"
            | "function_avg"
            | "function_min"
            | "function_max"
            | "function_stddev_samp"
            | "function_stddev_pop"
            | "function_var_samp"
            | "function_var_pop" => {
                let func = match ty {
                    "function_sum" => AggFunc::Sum,
                    "function_count" => AggFunc::Count,
                    "function_count_dist" => AggFunc::CountDistinct,
                    "function_avg" => AggFunc::Avg,
                    "function_min" => AggFunc::Min,
                    "function_max" => AggFunc::Max,
                    "function_stddev_samp" => AggFunc::StddevSamp,
                    "function_stddev_pop" => AggFunc::StddevPop,
                    "function_var_samp" => AggFunc::VarSamp,
                    _ => AggFunc::VarPop,
                };
                let c = arity(1, true)?;
                // The argument is row-level: no aggregate inside an aggregate.
                let arg = child(self, &c[0], 0, &AggScope::default())?;
                if arg.has_aggregate() {
                    return Err(err(&format!("{path}.content[0]"), "an aggregate cannot contain another aggregate"));
                }
                if arg.properties().is_empty() {
                    return Err(err(
                        &format!("{path}.content[0]"),
                        format!("{ty} needs a property of a dataset to aggregate"),
                    ));
                }
                Node::Aggregate {
                    func,
                    arg: Box::new(arg),
                    scope: Box::new(scope),
                    path: path.to_owned(),
                }
            }
            "function_plus" | "function_minus" | "function_multiply" | "function_divide" | "function_modulo" => {
                let op = match ty {
                    "function_plus" => ArithOp::Plus,
                    "function_minus" => ArithOp::Minus,
                    "function_multiply" => ArithOp::Multiply,
                    "function_divide" => ArithOp::Divide,
                    _ => ArithOp::Modulo,
                };
                let c = arity(2, false)?;
                let args = c
                    .iter()
                    .enumerate()
                    .map(|(i, a)| child(self, a, i, &scope))
                    .collect::<Result<_, _>>()?;
                Node::Arith { op, args }
            }
            "function_ifnull" => {
                let c = arity(2, true)?;
                Node::IfNull(Box::new(child(self, &c[0], 0, &scope)?), Box::new(child(self, &c[1], 1, &scope)?))
            }
            "function_round" => {
                let c = arity(1, true)?;
                let digits = match options.and_then(|o| o.get("precision").or_else(|| o.get("decimals"))) {
                    None | Some(Value::Null) => 0,
                    Some(d) => d
                        .as_i64()
                        .filter(|d| (0..=15).contains(d))
                        .ok_or_else(|| err(&format!("{path}.options.precision"), "an integer from 0 to 15"))?,
                };
                Node::Round(Box::new(child(self, &c[0], 0, &scope)?), digits)
            }
            "function_percent_to_total" => {
                let c = arity(1, true)?;
                let inner = child(self, &c[0], 0, &scope)?;
                if !inner.has_aggregate() {
                    return Err(err(
                        &format!("{path}.content[0]"),
                        "percent_to_total takes a measure (an aggregate or a metric)",
                    ));
                }
                Node::PercentToTotal(Box::new(inner))
            }
            "function_ntile" | "function_rank" | "function_percentile" | "function_row_number" => {
                let c = arity(1, false)?;
                let o = options;
                if ty != "function_ntile" && o.is_none() {
                    return Err(err(&format!("{path}.options"), format!("{ty} needs options (an object)")));
                }
                let func = match ty {
                    "function_ntile" => {
                        let b = o
                            .and_then(|o| o.get("buckets"))
                            .and_then(Value::as_i64)
                            .filter(|b| *b >= 1)
                            .ok_or_else(|| err(&format!("{path}.options.buckets"), "an integer of at least 1 is required"))?;
                        WindowFunc::Ntile(b)
                    }
                    "function_rank" => WindowFunc::Rank,
                    "function_percentile" => WindowFunc::Percentile,
                    _ => WindowFunc::RowNumber,
                };
                let descending = match o.and_then(|o| o.get("sort")).and_then(Value::as_str) {
                    None | Some("asc") => false,
                    Some("desc") => true,
                    Some(other) => return Err(err(&format!("{path}.options.sort"), format!("{other:?} is not asc or desc"))),
                };
                let partition_by = match o.and_then(|o| o.get("partitionBy")) {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(a)) => a
                        .iter()
                        .map(|p| p.as_str().map(str::to_owned))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| err(&format!("{path}.options.partitionBy"), "an array of output column ids"))?,
                    Some(_) => return Err(err(&format!("{path}.options.partitionBy"), "an array of output column ids")),
                };
                let args: Vec<Node> = c
                    .iter()
                    .enumerate()
                    .map(|(i, a)| child(self, a, i, &scope))
                    .collect::<Result<_, _>>()?;
                if !args.iter().all(Node::has_aggregate) {
                    return Err(err(
                        &format!("{path}.content"),
                        format!("{ty} orders by measures (aggregates, metrics or arithmetic over them)"),
                    ));
                }
                Node::Window {
                    func,
                    args,
                    descending,
                    partition_by,
                }
            }
            "function_today" => Node::Today,
            "function_date_trunc" => {
                let c = arity(1, true)?;
                let interval = options
                    .and_then(|o| o.get("interval"))
                    .and_then(Value::as_str)
                    .filter(|i| matches!(*i, "day" | "week" | "month" | "quarter" | "year"))
                    .ok_or_else(|| err(&format!("{path}.options.interval"), "one of day, week, month, quarter, year"))?;
                Node::DateTrunc(Box::new(child(self, &c[0], 0, &scope)?), interval.to_owned())
            }
            "function_interval" => {
                let c = arity(1, true)?;
                let n = match child(self, &c[0], 0, &scope)? {
                    Node::Int(n) => i32::try_from(n).map_err(|_| err(&format!("{path}.content[0]"), "too large"))?,
                    _ => return Err(err(&format!("{path}.content[0]"), "an interval counts a whole number")),
                };
                let (months, days) = match options.and_then(|o| o.get("interval")).and_then(Value::as_str) {
                    Some("day") => (0, n),
                    Some("week") => (0, n.saturating_mul(7)),
                    Some("month") => (n, 0),
                    Some("quarter") => (n.saturating_mul(3), 0),
                    Some("year") => (n.saturating_mul(12), 0),
                    _ => return Err(err(&format!("{path}.options.interval"), "one of day, week, month, quarter, year")),
                };
                Node::Interval { months, days }
            }
            "function_distance" => {
                let o = options.ok_or_else(|| err(&format!("{path}.options"), "dataset and centralPoint are required"))?;
                let dataset = o
                    .get("dataset")
                    .and_then(Value::as_str)
                    .ok_or_else(|| err(&format!("{path}.options.dataset"), "a dataset name is required"))?;
                let (lat, lng) = self
                    .model
                    .lat_lng(dataset)
                    .map_err(|m| err(&format!("{path}.options.dataset"), m))?;
                let point = o.get("centralPoint");
                let coord = |k: &str, max: f64| {
                    point
                        .and_then(|p| p.get(k))
                        .and_then(Value::as_f64)
                        .filter(|x| x.abs() <= max)
                        .ok_or_else(|| {
                            err(
                                &format!("{path}.options.centralPoint.{k}"),
                                format!("a number from -{max} to {max}"),
                            )
                        })
                };
                Node::Distance {
                    lat,
                    lng,
                    center: (coord("lat", 90.0)?, coord("lng", 180.0)?),
                }
            }
            "function_h3_grid" => {
                let o = options.ok_or_else(|| err(&format!("{path}.options"), "dataset and resolution are required"))?;
                let dataset = o
                    .get("dataset")
                    .and_then(Value::as_str)
                    .map(|d| d.rsplit(['=', '/']).next().unwrap_or(d))
                    .ok_or_else(|| err(&format!("{path}.options.dataset"), "a point dataset name is required"))?;
                let (lat, lng) = self
                    .model
                    .lat_lng(dataset)
                    .map_err(|m| err(&format!("{path}.options.dataset"), m))?;
                let resolution = o
                    .get("resolution")
                    .and_then(Value::as_u64)
                    .filter(|r| *r <= 15)
                    .ok_or_else(|| err(&format!("{path}.options.resolution"), "an integer from 0 to 15"))?;
                Node::H3Cell {
                    lat,
                    lng,
                    resolution: u8::try_from(resolution).unwrap_or(15),
                }
            }
            other => return Err(err(&format!("{path}.type"), format!("unknown node type {other:?}"))),
        })
    }

    fn extend_scope(&mut self, scope: &mut AggScope, o: &Value, path: &str) -> Result<(), QueryError> {
        for (i, f) in array(o.get("filterBy"), &format!("{path}.filterBy"))?.iter().enumerate() {
            scope.filters.push(self.filter(f, &format!("{path}.filterBy[{i}]"))?);
        }
        let strings = |key: &str| -> Result<Vec<String>, QueryError> {
            array(o.get(key), &format!("{path}.{key}"))?
                .iter()
                .map(|s| s.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| err(&format!("{path}.{key}"), "an array of strings"))
        };
        scope.without.extend(strings("withoutFilters")?);
        let accept = strings("acceptAggregateBy")?;
        let dont = strings("dontAggregateBy")?;
        if !accept.is_empty() && !dont.is_empty() {
            return Err(err(path, "acceptAggregateBy and dontAggregateBy exclude each other"));
        }
        scope.accept.extend(accept);
        scope.dont.extend(dont);
        Ok(())
    }

    /// Parses a FilterBy.
    pub fn filter(&mut self, v: &Value, path: &str) -> Result<Filter, QueryError> {
        let target = match (
            v.get("property").filter(|p| !p.is_null()),
            v.get("function").filter(|p| !p.is_null()),
        ) {
            (Some(p), None) => Some(Node::Property(self.property(Some(p), &format!("{path}.property"))?)),
            (None, Some(f)) => Some(self.node(f, &format!("{path}.function"), &AggScope::default())?),
            (Some(_), Some(_)) => return Err(err(path, "give property or function, not both")),
            (None, None) => None,
        };
        let op = v.get("operator").and_then(Value::as_str).unwrap_or_default();
        if matches!(op, "and" | "or" | "not") {
            return self.filter_with(v, path, Node::Int(0));
        }
        let target = target.ok_or_else(|| err(&format!("{path}.property"), "a property or a function to filter on is required"))?;
        if target.has_aggregate() {
            return Err(err(
                &format!("{path}.function"),
                "filterBy filters rows; filter on a measure with having",
            ));
        }
        self.filter_with(v, path, target)
    }

    /// Parses a filter whose target is already known (`having` targets a column).
    fn filter_with(&mut self, v: &Value, path: &str, target: Node) -> Result<Filter, QueryError> {
        let op = v
            .get("operator")
            .and_then(Value::as_str)
            .ok_or_else(|| err(&format!("{path}.operator"), "an operator is required"))?;
        let value = v.get("value");
        let compare = |op| -> Result<Filter, QueryError> {
            let value = value.cloned().ok_or_else(|| err(&format!("{path}.value"), "a value is required"))?;
            if !(value.is_number() || value.is_string() || value.is_boolean()) {
                return Err(err(&format!("{path}.value"), "a number, a string or a boolean"));
            }
            check_value(&target, &value, &format!("{path}.value"), self.model)?;
            Ok(Filter::Compare {
                target: target.clone(),
                op,
                value,
                path: format!("{path}.value"),
            })
        };
        Ok(match op {
            "eq" => compare(CompareOp::Eq)?,
            "ne" => compare(CompareOp::Ne)?,
            "lt" => compare(CompareOp::Lt)?,
            "lte" => compare(CompareOp::Lte)?,
            "gt" => compare(CompareOp::Gt)?,
            "gte" => compare(CompareOp::Gte)?,
            "in" => {
                let values = value
                    .and_then(Value::as_array)
                    .ok_or_else(|| err(&format!("{path}.value"), "in takes an array of values"))?;
                for (i, x) in values.iter().enumerate() {
                    check_value(&target, x, &format!("{path}.value[{i}]"), self.model)?;
                }
                Filter::In {
                    target,
                    values: values.clone(),
                    path: format!("{path}.value"),
                }
            }
            "isNull" | "isNotNull" => Filter::IsNull {
                target,
                negated: op == "isNotNull",
            },
            "inAttribute" | "notInAttribute" => {
                let q = v
                    .get("query")
                    .ok_or_else(|| err(&format!("{path}.query"), "a subquery is required"))?;
                let sub = self.request(q, &format!("{path}.query"))?;
                if sub.outputs.len() != 1 {
                    return Err(err(
                        &format!("{path}.query.properties"),
                        format!("a subquery returns one column, not {}", sub.outputs.len()),
                    ));
                }
                Filter::InAttribute {
                    target,
                    query: Box::new(sub),
                    negated: op == "notInAttribute",
                    path: path.to_owned(),
                }
            }
            "and" | "or" | "not" => {
                let content = v
                    .get("content")
                    .and_then(Value::as_array)
                    .filter(|c| !c.is_empty())
                    .ok_or_else(|| err(&format!("{path}.content"), format!("{op} takes a non-empty array of filters")))?;
                let parts = content
                    .iter()
                    .enumerate()
                    .map(|(i, f)| self.filter(f, &format!("{path}.content[{i}]")))
                    .collect::<Result<Vec<_>, _>>()?;
                match op {
                    "and" => Filter::And(parts),
                    "or" => Filter::Or(parts),
                    _ => Filter::Not(Box::new(Filter::And(parts))),
                }
            }
            other => return Err(err(&format!("{path}.operator"), format!("unknown operator {other:?}"))),
        })
    }
}

/// A filter value must fit the filtered property's type.
fn check_value(target: &Node, value: &Value, path: &str, model: &Model) -> Result<(), QueryError> {
    let Node::Property(p) = target else { return Ok(()) };
    let Some(ty) = model.property_type(p) else { return Ok(()) };
    let ok = match ty {
        PropertyType::Integer | PropertyType::Bigint | PropertyType::Decimal | PropertyType::Latitude | PropertyType::Longitude => {
            value.is_number()
        }
        PropertyType::String => value.is_string() || value.is_number(),
        PropertyType::Boolean => value.is_boolean(),
        PropertyType::Date => value.as_str().is_some_and(|s| crate::load::parse_date(s).is_some()),
        PropertyType::Geometry => false,
    };
    if ok {
        Ok(())
    } else {
        let want = match ty {
            PropertyType::Date => "a date YYYY-MM-DD".to_owned(),
            PropertyType::Geometry => "nothing: geometries cannot be compared".to_owned(),
            t => format!("a value of type {}", t.name()),
        };
        Err(err(
            path,
            format!("{} is {}, so the value must be {want}; got {value}", p.column(), ty.name()),
        ))
    }
}

fn array<'v>(v: Option<&'v Value>, path: &str) -> Result<&'v [Value], QueryError> {
    match v {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(err(path, "must be an array")),
    }
}

fn default_id(node: &Value, i: usize) -> String {
    match node.get("type").and_then(Value::as_str) {
        Some("property") => node.get("value").and_then(Value::as_str).map(|v| v.replace('.', "_")),
        Some("metric") => node
            .get("metric")
            .and_then(Value::as_str)
            .and_then(|l| l.rsplit(['=', '/']).next())
            .map(str::to_owned),
        _ => None,
    }
    .unwrap_or_else(|| format!("column{i}"))
}

fn order(o: &Value, path: &str, outputs: &[Output]) -> Result<OrderBy, QueryError> {
    let descending = match o.get("direction").and_then(Value::as_str) {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(d) => return Err(err(&format!("{path}.direction"), format!("{d:?} is not asc or desc"))),
    };
    let nulls_first = match o.get("nulls").and_then(Value::as_str) {
        None => None,
        Some("first") => Some(true),
        Some("last") => Some(false),
        Some(n) => return Err(err(&format!("{path}.nulls"), format!("{n:?} is not first or last"))),
    };
    let column = if let Some(id) = o.get("propertyId").and_then(Value::as_str) {
        outputs
            .iter()
            .find(|out| out.id == id)
            .map(|out| out.id.clone())
            .ok_or_else(|| err(&format!("{path}.propertyId"), format!("no output column has the id {id:?}")))?
    } else {
        // `property`: a "dataset.property" string or a node; it must be an output.
        let wanted = match o.get("property") {
            Some(Value::String(s)) => s.clone(),
            Some(node) => match (node.get("type").and_then(Value::as_str), node.get("id").and_then(Value::as_str)) {
                (_, Some(id)) if outputs.iter().any(|out| out.id == id) => id.to_owned(),
                (Some("property"), _) => node.get("value").and_then(Value::as_str).unwrap_or_default().to_owned(),
                _ => String::new(),
            },
            None => return Err(err(path, "give propertyId or property")),
        };
        outputs
            .iter()
            .find(|out| out.id == wanted || matches!(&out.node, Node::Property(p) if p.column() == wanted))
            .map(|out| out.id.clone())
            .ok_or_else(|| {
                err(
                    &format!("{path}.property"),
                    format!("{wanted:?} is not one of the query's columns; order by an output column"),
                )
            })?
    };
    Ok(OrderBy {
        column,
        descending,
        nulls_first,
    })
}
