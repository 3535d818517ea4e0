//! The logical model a query is read against: a project's dwh datasets, the
//! foreign keys between them (many-to-one links from a fact outwards) and its
//! metrics. Join paths are found here, by breadth-first search along foreign
//! keys, and a dataset reached by two equally short paths is ambiguous.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde_json::Value;

use super::ast::PropRef;
use crate::{DatasetDef, PropertyType};

/// One step of a join path: `from.property` is a foreign key to `to`'s primary key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Edge {
    pub from: String,
    pub property: String,
    pub to: String,
}

/// How one dataset is reached from a root dataset.
#[derive(Debug, Clone)]
pub struct Reach {
    pub depth: usize,
    /// The number of distinct shortest paths; more than one is ambiguous.
    pub paths: usize,
    /// The last step of a shortest path (none for the root).
    pub via: Option<Edge>,
}

#[derive(Debug, Default, Clone)]
pub struct Model {
    pub datasets: BTreeMap<String, DatasetDef>,
    /// Metric name → the metric's `content` (its root node).
    metrics: HashMap<String, Value>,
    /// Metric id → name, for `/md/metrics/{id}` links.
    metric_ids: HashMap<String, String>,
}

impl Model {
    pub fn new(datasets: impl IntoIterator<Item = DatasetDef>) -> Self {
        Model {
            datasets: datasets.into_iter().map(|d| (d.name.clone(), d)).collect(),
            ..Model::default()
        }
    }

    /// Adds a metric by its metadata: `name`, `id` and `content`.
    pub fn add_metric(&mut self, id: &str, name: &str, content: Value) {
        self.metric_ids.insert(id.to_owned(), name.to_owned());
        self.metrics.insert(name.to_owned(), content);
    }

    /// A dwh dataset of the project, or what to say when there is none.
    pub fn dataset(&self, name: &str) -> Result<&DatasetDef, String> {
        self.datasets
            .get(name)
            .ok_or_else(|| format!("the project has no dwh dataset {name:?}"))
    }

    pub fn property(&self, text: &str) -> Result<PropRef, String> {
        let (dataset, property) = text
            .split_once('.')
            .ok_or_else(|| format!("{text:?} is not \"dataset.property\""))?;
        let def = self.dataset(dataset)?;
        if def.property(property).is_none() {
            return Err(format!("dataset {dataset} has no property {property:?}"));
        }
        Ok(PropRef {
            dataset: dataset.to_owned(),
            property: property.to_owned(),
        })
    }

    pub fn property_type(&self, p: &PropRef) -> Option<PropertyType> {
        Some(self.datasets.get(&p.dataset)?.property(&p.property)?.ty)
    }

    /// A metric by link (`…/md/metrics?name=N`, `…/md/metrics/{id}`) or name.
    pub fn metric(&self, link: &str) -> Result<(String, Value), String> {
        let name = if let Some((_, query)) = link.split_once("?name=") {
            query.split('&').next().unwrap_or_default().to_owned()
        } else if let Some((_, id)) = link.rsplit_once("/metrics/") {
            self.metric_ids.get(id).cloned().unwrap_or_else(|| id.to_owned())
        } else {
            link.to_owned()
        };
        let body = self
            .metrics
            .get(&name)
            .ok_or_else(|| format!("the project has no metric {name:?} ({link})"))?;
        Ok((name, body.clone()))
    }

    /// The latitude and longitude properties of a point dataset.
    pub fn lat_lng(&self, dataset: &str) -> Result<(PropRef, PropRef), String> {
        let def = self.dataset(dataset)?;
        let find = |ty| {
            def.properties.iter().find(|p| p.ty == ty).map(|p| PropRef {
                dataset: dataset.to_owned(),
                property: p.name.clone(),
            })
        };
        match (find(PropertyType::Latitude), find(PropertyType::Longitude)) {
            (Some(lat), Some(lng)) => Ok((lat, lng)),
            _ => Err(format!("dataset {dataset} has no latitude and longitude properties")),
        }
    }

    /// The foreign keys leaving a dataset, to datasets of the model.
    pub fn edges(&self, dataset: &str) -> Vec<Edge> {
        let Some(def) = self.datasets.get(dataset) else { return Vec::new() };
        def.properties
            .iter()
            .filter_map(|p| {
                let to = p.foreign_key.as_ref()?;
                self.datasets.contains_key(to).then(|| Edge {
                    from: dataset.to_owned(),
                    property: p.name.clone(),
                    to: to.clone(),
                })
            })
            .collect()
    }

    /// Every dataset reachable from `root` along foreign keys, with how.
    pub fn reach(&self, root: &str) -> HashMap<String, Reach> {
        let mut out: HashMap<String, Reach> = HashMap::new();
        out.insert(
            root.to_owned(),
            Reach {
                depth: 0,
                paths: 1,
                via: None,
            },
        );
        let mut queue = VecDeque::from([root.to_owned()]);
        while let Some(at) = queue.pop_front() {
            let (depth, paths) = match out.get(&at) {
                Some(r) => (r.depth, r.paths),
                None => continue,
            };
            for edge in self.edges(&at) {
                match out.get_mut(&edge.to) {
                    None => {
                        out.insert(
                            edge.to.clone(),
                            Reach {
                                depth: depth + 1,
                                paths,
                                via: Some(edge.clone()),
                            },
                        );
                        queue.push_back(edge.to);
                    }
                    Some(r) if r.depth == depth + 1 => r.paths += paths,
                    Some(_) => {}
                }
            }
        }
        out
    }

    /// The steps from `root` to `target` along the (unique) shortest path.
    pub fn path(reach: &HashMap<String, Reach>, target: &str) -> Vec<Edge> {
        let mut steps = Vec::new();
        let mut at = target.to_owned();
        while let Some(edge) = reach.get(&at).and_then(|r| r.via.clone()) {
            at = edge.from.clone();
            steps.push(edge);
        }
        steps.reverse();
        steps
    }
}

/// `acceptAggregateBy` / `dontAggregateBy` patterns: a name, or a prefix or
/// suffix with `*`.
pub fn matches_pattern(pattern: &str, name: &str) -> bool {
    match (pattern.strip_suffix('*'), pattern.strip_prefix('*')) {
        (Some(prefix), _) => name.starts_with(prefix),
        (None, Some(suffix)) => name.ends_with(suffix),
        _ => pattern == name,
    }
}
