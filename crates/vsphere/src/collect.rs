//! One collection: every virtual machine of a vCenter, as an inventory snapshot.
//!
//! The steps, in order: read the API version, `RetrieveServiceContent`, `Login`, read the
//! custom attribute definitions, list every VM through a container view (paged), list the
//! folders, datacenters, clusters and resource pools through a second view (for names and
//! paths), destroy the views and log out.
//!
//! A failure before the VM listing starts (the vCenter cannot be reached, the password is
//! refused) is an [`Error`]. A failure after it (a page that cannot be read, a session that
//! cannot be renewed, a VM whose properties cannot be read) still gives a snapshot, marked
//! incomplete with the reasons, so nothing is cancelled because of it. A session that expires
//! is renewed once per listing, and the listing starts over, since its view and paging token
//! died with the session.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use hyalto_domain::{
    Completeness, Customer, CustomerId, PowerState, Resource, ResourceKind, Service, ServiceId,
    ServiceKind, Snapshot, Unit, hidden_character,
};
use quick_xml::escape::escape;
use rust_decimal::Decimal;

use crate::client::Client;
use crate::error::Error;
use crate::rules::{Ownership, Placement};
use crate::source::VsphereSource;
use crate::xml::{MoRef, ObjectContent, Value};

/// The VM properties hyalto reads. `config.hardware.device` makes the answer heavy (about
/// 8 KB per VM) but is the only source of disk sizes that vCenter keeps exact.
const VM_PROPERTIES: &[&str] = &[
    "name",
    "config.instanceUuid",
    "config.template",
    "config.hardware.numCPU",
    "config.hardware.memoryMB",
    "config.hardware.device",
    "runtime.powerState",
    "parent",
    "resourcePool",
    "customValue",
];

/// The entity types whose names make up folder and resource pool paths.
const PLACE_TYPES: &[&str] = &[
    "Folder",
    "Datacenter",
    "ComputeResource",
    "ClusterComputeResource",
    "ResourcePool",
    "VirtualApp",
];

/// The deepest inventory path followed; deeper means a loop in what vCenter answered.
const MAX_DEPTH: usize = 128;

/// What a collection returns: the snapshot for the store, every VM with what was read about
/// it, and a report of what was left out and why.
#[derive(Debug, Clone)]
pub struct Collection {
    /// The inventory snapshot: one `virtual_machine` service per VM that is not a template,
    /// with `cpu` (count), `ram` (MiB) and `storage` (MiB) resources.
    pub snapshot: Snapshot,
    /// Every VM read, templates included, in the order vCenter listed them.
    pub vms: Vec<VirtualMachine>,
    /// Counts, and what needs a person's attention.
    pub report: Report,
}

/// One virtual machine as read from vCenter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualMachine {
    /// The managed object id, such as `vm-45`; changes if the VM is re-registered.
    pub moref: String,
    /// `config.instanceUuid`, unique within the vCenter and stable: the service id.
    pub instance_uuid: String,
    /// The VM's name.
    pub name: String,
    /// Virtual CPUs.
    pub cpus: u32,
    /// Memory, in MiB.
    pub memory_mib: u64,
    /// The sum of the capacities of its virtual disks, in bytes; zero without disks.
    pub storage_bytes: u64,
    /// How many virtual disks it has.
    pub disks: u32,
    /// Whether it runs; `None` when vCenter did not say.
    pub power_state: Option<PowerState>,
    /// Whether it is a template (never billed).
    pub template: bool,
    /// The inventory path of its folder, such as `/DC0/vm/Customers/Acme`; shared by the VMs
    /// of the same folder.
    pub folder_path: Option<Arc<str>>,
    /// The name of its resource pool (or vApp); shared by the VMs of the same pool.
    pub resource_pool: Option<Arc<str>>,
    /// The inventory path of its resource pool, such as `/DC0/host/C1/Resources/acme`; shared
    /// by the VMs of the same pool.
    pub resource_pool_path: Option<Arc<str>>,
    /// Its custom attribute values, by attribute name.
    pub custom_attributes: BTreeMap<String, String>,
    /// The customer the ownership rules gave it.
    pub customer: Option<CustomerId>,
}

/// A VM named in a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmRef {
    /// Its name.
    pub name: String,
    /// Its managed object id.
    pub moref: String,
}

/// A VM no customer owns, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unassigned {
    /// The VM.
    pub vm: VmRef,
    /// Why no rule gave it a customer.
    pub reason: String,
}

/// What a collection did and what it left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// The vCenter's `about.instanceUuid`.
    pub vcenter_uuid: String,
    /// The vCenter's API version.
    pub api_version: String,
    /// Pages read in all listings.
    pub pages: u32,
    /// Times an expired session was renewed by logging in again.
    pub session_renewals: u32,
    /// VMs read, templates included.
    pub vms_listed: usize,
    /// VMs in the snapshot with a customer.
    pub vms_assigned: usize,
    /// VMs in the snapshot without a customer (billed to nobody).
    pub unassigned: Vec<Unassigned>,
    /// Templates, which are read but never billed.
    pub templates_skipped: Vec<VmRef>,
    /// What could not be read; each one makes the snapshot incomplete.
    pub failures: Vec<String>,
}

/// Collects every virtual machine of the vCenter `source` names.
///
/// Returns an error only when nothing could be read (see the module documentation); later
/// failures give an incomplete snapshot with the reasons in [`Report::failures`].
pub async fn collect(source: &VsphereSource) -> Result<Collection, Error> {
    let started = Instant::now();

    // Connecting and logging in: a failure here leaves nothing to report but the error.
    let mut client = Client::connect(source).await?;
    let content = client.retrieve_service_content().await?;
    client.login().await?;
    let url = client.url().to_owned();
    tracing::info!(
        vsphere.url = %url,
        vsphere.api_version = %content.api_version,
        "logged in to vCenter"
    );

    let mut report = Report {
        vcenter_uuid: content.instance_uuid.clone(),
        api_version: content.api_version.clone(),
        ..Report::default()
    };
    let taken_at = Utc::now();

    // Reading: each listing that fails adds a failure and the collection goes on, so the
    // snapshot holds whatever could be read.
    let fields = match &content.custom_fields_manager {
        Some(manager) => {
            let spec = spec_set(
                &[("CustomFieldsManager", &["field"])],
                Target::Object(manager),
            );
            let listing = list(&mut client, &mut report, None, &spec, source, field_defs).await;
            if let Some(error) = listing.error {
                report.failures.push(format!(
                    "the custom attribute names could not be read, so attribute rules were not \
                     applied: {error}"
                ));
                None
            } else {
                Some(listing.into_items().flatten().collect::<HashMap<_, _>>())
            }
        }
        None => Some(HashMap::new()),
    };

    let spec = spec_set(&[("VirtualMachine", VM_PROPERTIES)], Target::View);
    let vms = list(
        &mut client,
        &mut report,
        Some(&["VirtualMachine"]),
        &spec,
        source,
        raw_vm,
    )
    .await;
    let Listing {
        pages: vm_pages,
        error,
    } = vms;
    if let Some(error) = error {
        report.failures.push(format!(
            "the virtual machine listing stopped after {} VMs: {error}",
            vm_pages.iter().map(Vec::len).sum::<usize>()
        ));
    }

    let place_sets: Vec<(&str, &[&str])> = PLACE_TYPES
        .iter()
        .map(|kind| (*kind, ["name", "parent"].as_slice()))
        .collect();
    let spec = spec_set(&place_sets, Target::View);
    let places = list(
        &mut client,
        &mut report,
        Some(PLACE_TYPES),
        &spec,
        source,
        place,
    )
    .await;
    let places = match places.error {
        Some(error) => {
            report.failures.push(format!(
                "the folder and resource pool names could not be read, so folder and pool \
                 rules were not applied: {error}"
            ));
            None
        }
        None => Some(
            places
                .into_items()
                .map(|place| (place.moref.clone(), place))
                .collect::<HashMap<_, _>>(),
        ),
    };

    // Logging out is a courtesy to the vCenter's session limit; failing to do it changes
    // nothing that was read.
    if let Err(error) = client.logout().await {
        tracing::warn!(vsphere.url = %url, error = %error, "logging out of vCenter failed");
    }

    // Deciding: paths, owners and the snapshot.
    let inventory = Inventory {
        root: &content.root_folder,
        places: places.as_ref(),
        fields: fields.as_ref(),
    };
    let collection = assemble(source, taken_at, vm_pages, &inventory, report);

    tracing::info!(
        vsphere.url = %url,
        vsphere.vms = collection.report.vms_listed,
        vsphere.pages = collection.report.pages,
        vsphere.session_renewals = collection.report.session_renewals,
        complete = collection.snapshot.completeness.is_complete(),
        duration_ms = started.elapsed().as_millis() as u64,
        "collected the vCenter inventory"
    );
    Ok(collection)
}

/// Where the objects of a listing come from.
enum Target<'a> {
    /// A container view created for the listing.
    View,
    /// One object, read directly.
    Object(&'a MoRef),
}

/// Builds a `specSet`; `{VIEW}` is replaced by the view once it exists.
fn spec_set(prop_sets: &[(&str, &[&str])], target: Target<'_>) -> String {
    let mut spec = String::from("<specSet>");
    for (kind, paths) in prop_sets {
        spec.push_str(&format!("<propSet><type>{kind}</type><all>false</all>"));
        for path in *paths {
            spec.push_str(&format!("<pathSet>{path}</pathSet>"));
        }
        spec.push_str("</propSet>");
    }
    match target {
        Target::View => spec.push_str(
            "<objectSet><obj type=\"ContainerView\">{VIEW}</obj><skip>true</skip>\
             <selectSet xsi:type=\"TraversalSpec\"><name>view</name><type>ContainerView</type>\
             <path>view</path><skip>false</skip></selectSet></objectSet>",
        ),
        Target::Object(object) => spec.push_str(&format!(
            "<objectSet><obj type=\"{}\">{}</obj><skip>false</skip></objectSet>",
            escape(object.kind.as_str()),
            escape(object.value.as_str())
        )),
    }
    spec.push_str("</specSet>");
    spec
}

/// What one listing read, and the error that stopped it, if any.
///
/// The objects are kept page by page, as they arrived, rather than in one vector: one vector
/// would double its buffer as it grows (holding the old and the new one while it moves), and
/// it could only be freed as a whole once every VM was assembled, whereas each page is freed
/// as soon as its VMs are.
struct Listing<T> {
    pages: Vec<Vec<T>>,
    error: Option<Error>,
}

impl<T> Listing<T> {
    /// Every object read, in the order vCenter listed them.
    fn into_items(self) -> impl Iterator<Item = T> {
        self.pages.into_iter().flatten()
    }
}

/// Runs one listing; if the session has expired, logs in again once and starts it over.
async fn list<T: Send + 'static>(
    client: &mut Client,
    report: &mut Report,
    view_types: Option<&[&str]>,
    spec: &str,
    source: &VsphereSource,
    convert: fn(ObjectContent) -> T,
) -> Listing<T> {
    let first = list_once(client, report, view_types, spec, source, convert).await;
    match first.error {
        Some(error) if error.is_not_authenticated() => {
            tracing::info!(vsphere.url = %client.url(), "the vCenter session ended; logging in again");
            if let Err(login) = client.login().await {
                return Listing {
                    pages: first.pages,
                    error: Some(login),
                };
            }
            report.session_renewals += 1;
            list_once(client, report, view_types, spec, source, convert).await
        }
        error => Listing {
            pages: first.pages,
            error,
        },
    }
}

/// Runs one listing: creates the view if needed, reads every page, destroys the view.
async fn list_once<T: Send + 'static>(
    client: &mut Client,
    report: &mut Report,
    view_types: Option<&[&str]>,
    spec: &str,
    source: &VsphereSource,
    convert: fn(ObjectContent) -> T,
) -> Listing<T> {
    let mut pages = Vec::new();
    let view = match view_types {
        Some(types) => match client.create_container_view(types).await {
            Ok(view) => Some(view),
            Err(error) => {
                return Listing {
                    pages,
                    error: Some(error),
                };
            }
        },
        None => None,
    };
    let spec = match &view {
        Some(view) => spec.replace("{VIEW}", &escape(view.value.as_str())),
        None => spec.to_owned(),
    };

    let mut error = None;
    let mut page = client
        .retrieve_properties(&spec, source.page_size.max(1), convert)
        .await;
    loop {
        match page {
            Ok((objects, token)) => {
                report.pages += 1;
                pages.push(objects);
                let Some(token) = token else { break };
                page = client.continue_retrieve(&token, convert).await;
                if page.is_err() {
                    // The server may still hold the rest of the listing; free it if it can.
                    let _ = client.cancel_retrieve(&token).await;
                }
            }
            Err(failure) => {
                error = Some(failure);
                break;
            }
        }
    }

    if let Some(view) = view {
        let expired = error.as_ref().is_some_and(Error::is_not_authenticated);
        if !expired && let Err(failure) = client.destroy_view(&view).await {
            tracing::debug!(error = %failure, "destroying a container view failed");
        }
    }
    Listing { pages, error }
}

/// A VM as read, before paths and owners are worked out. Every VM of the listing is held in
/// this form until the folders and pools are read, so it is kept small: boxed strings, and the
/// managed object id without its type (always `VirtualMachine`).
struct RawVm {
    moref: Box<str>,
    name: Option<Box<str>>,
    instance_uuid: Option<Box<str>>,
    template: Option<bool>,
    cpus: Option<u32>,
    memory_mib: Option<u64>,
    storage_bytes: u64,
    disks: u32,
    power: Option<PowerState>,
    parent: Option<MoRef>,
    pool: Option<MoRef>,
    custom_values: Vec<(i32, String)>,
    /// Properties that could not be read or understood.
    problems: Vec<String>,
}

/// Reduces one VM object to what hyalto keeps. Runs in the XML reading task.
fn raw_vm(object: ObjectContent) -> RawVm {
    let mut vm = RawVm {
        moref: object.obj.value.into_boxed_str(),
        name: None,
        instance_uuid: None,
        template: None,
        cpus: None,
        memory_mib: None,
        storage_bytes: 0,
        disks: 0,
        power: None,
        parent: None,
        pool: None,
        custom_values: Vec::new(),
        problems: Vec::new(),
    };
    for (path, fault) in object.missing {
        vm.problems
            .push(format!("{path} could not be read ({fault})"));
    }

    for (property, value) in object.props {
        match (property.as_str(), value) {
            ("name", Value::Text(text)) => vm.name = Some(text.into_boxed_str()),
            ("config.instanceUuid", Value::Text(text)) => {
                vm.instance_uuid = Some(text.into_boxed_str());
            }
            ("config.template", Value::Text(text)) => vm.template = Some(text.trim() == "true"),
            ("config.hardware.numCPU", Value::Text(text)) => {
                vm.cpus = number(&text, &property, &mut vm.problems);
            }
            ("config.hardware.memoryMB", Value::Text(text)) => {
                vm.memory_mib = number(&text, &property, &mut vm.problems);
            }
            ("config.hardware.device", Value::Items(devices)) => {
                for device in devices {
                    if device.xsi_type.as_deref() != Some("VirtualDisk") {
                        continue;
                    }
                    // vCenter 5.5 and later give bytes; older ones (and the simulator) only
                    // kilobytes.
                    let bytes = match (
                        device.field("capacityInBytes"),
                        device.field("capacityInKB"),
                    ) {
                        (Some(bytes), _) => number::<u64>(bytes, &property, &mut vm.problems),
                        (None, Some(kb)) => number::<u64>(kb, &property, &mut vm.problems)
                            .map(|kb| kb.saturating_mul(1024)),
                        (None, None) => {
                            vm.problems
                                .push("a virtual disk has no capacity".to_owned());
                            None
                        }
                    };
                    vm.storage_bytes = vm.storage_bytes.saturating_add(bytes.unwrap_or(0));
                    vm.disks += 1;
                }
            }
            ("runtime.powerState", Value::Text(text)) => {
                vm.power = match text.as_str() {
                    "poweredOn" => Some(PowerState::On),
                    "poweredOff" => Some(PowerState::Off),
                    "suspended" => Some(PowerState::Suspended),
                    _ => None,
                };
            }
            ("parent", Value::Ref(moref)) => vm.parent = Some(moref),
            ("resourcePool", Value::Ref(moref)) => vm.pool = Some(moref),
            ("customValue", Value::Items(values)) => {
                for value in values {
                    let key = value.field("key").and_then(|key| key.trim().parse().ok());
                    if let (Some(key), Some(text)) = (key, value.field("value")) {
                        vm.custom_values.push((key, text.to_owned()));
                    }
                }
            }
            (_, other) => vm
                .problems
                .push(format!("{property} has an unexpected value {other:?}")),
        }
    }
    vm
}

fn number<N: std::str::FromStr>(
    text: &str,
    property: &str,
    problems: &mut Vec<String>,
) -> Option<N> {
    let parsed = text.trim().parse().ok();
    if parsed.is_none() {
        problems.push(format!("{property} is {text:?}, not a whole number"));
    }
    parsed
}

/// A custom attribute definition: key and name, if it applies to virtual machines.
fn field_defs(object: ObjectContent) -> Vec<(i32, String)> {
    let mut defs = Vec::new();
    for (_, value) in object.props {
        let Value::Items(items) = value else { continue };
        for item in items {
            let applies = matches!(
                item.field("managedObjectType"),
                None | Some("VirtualMachine")
            );
            let key = item.field("key").and_then(|key| key.trim().parse().ok());
            if let (true, Some(key), Some(name)) = (applies, key, item.field("name")) {
                defs.push((key, name.to_owned()));
            }
        }
    }
    defs
}

/// A folder, datacenter, cluster or pool: its name and parent.
struct Place {
    moref: MoRef,
    name: Option<String>,
    parent: Option<MoRef>,
}

fn place(object: ObjectContent) -> Place {
    let mut place = Place {
        moref: object.obj,
        name: None,
        parent: None,
    };
    for (property, value) in object.props {
        match (property.as_str(), value) {
            ("name", Value::Text(name)) => place.name = Some(name),
            ("parent", Value::Ref(parent)) => place.parent = Some(parent),
            _ => {}
        }
    }
    place
}

/// What the VMs' paths and attribute names are worked out from; `None` where it could not be
/// read.
struct Inventory<'a> {
    root: &'a MoRef,
    places: Option<&'a HashMap<MoRef, Place>>,
    fields: Option<&'a HashMap<i32, String>>,
}

impl Inventory<'_> {
    /// The inventory path of `moref`, from the datacenter down: `/DC0/vm/acme`. `Err` names
    /// an object on the way that is not in the listing.
    fn path(&self, moref: &MoRef) -> Result<String, String> {
        let Some(places) = self.places else {
            return Err("the folder and pool names could not be read".to_owned());
        };
        let mut names = Vec::new();
        let mut current = moref;
        while current != self.root {
            let place = places.get(current).ok_or_else(|| {
                format!(
                    "{} {} is not in the inventory listing (the inventory changed during the \
                     collection)",
                    current.kind, current.value
                )
            })?;
            names.push(place.name.clone().unwrap_or_else(|| current.value.clone()));
            match &place.parent {
                Some(parent) if names.len() < MAX_DEPTH => current = parent,
                Some(_) => return Err("the inventory path is too deep".to_owned()),
                None => break,
            }
        }
        names.reverse();
        Ok(format!("/{}", names.join("/")))
    }
}

/// Paths and pool names worked out once per folder or pool and shared by its VMs, rather than
/// spelt out again for each of them.
#[derive(Default)]
struct Places {
    paths: HashMap<MoRef, Result<Arc<str>, String>>,
    names: HashMap<MoRef, Option<Arc<str>>>,
}

impl Places {
    fn path(&mut self, inventory: &Inventory<'_>, moref: &MoRef) -> Result<Arc<str>, String> {
        if let Some(path) = self.paths.get(moref) {
            return path.clone();
        }
        let path = inventory.path(moref).map(Arc::from);
        self.paths.insert(moref.clone(), path.clone());
        path
    }

    fn name(&mut self, inventory: &Inventory<'_>, moref: &MoRef) -> Option<Arc<str>> {
        if let Some(name) = self.names.get(moref) {
            return name.clone();
        }
        let name = inventory
            .places
            .and_then(|places| places.get(moref))
            .and_then(|place| place.name.as_deref())
            .map(Arc::from);
        self.names.insert(moref.clone(), name.clone());
        name
    }
}

/// Works out paths and owners and builds the snapshot. `raw_pages` are the VM listing's pages;
/// each is freed as soon as its VMs are assembled.
fn assemble(
    source: &VsphereSource,
    taken_at: chrono::DateTime<Utc>,
    raw_pages: Vec<Vec<RawVm>>,
    inventory: &Inventory<'_>,
    mut report: Report,
) -> Collection {
    let rules = &source.rules;
    let listed = raw_pages.iter().map(Vec::len).sum();
    let mut vms = Vec::with_capacity(listed);
    let mut services: Vec<Service> = Vec::with_capacity(listed);
    let mut customers: BTreeMap<CustomerId, String> = BTreeMap::new();
    // Each instance UUID seen, with the index in `vms` of the VM that has it.
    let mut seen_ids: HashMap<String, usize> = HashMap::with_capacity(listed);
    let mut places = Places::default();
    report.vms_listed = listed;

    for raw in raw_pages.into_iter().flatten() {
        let label = match &raw.name {
            Some(name) => format!("VM {name:?} ({})", raw.moref),
            None => format!("VM {}", raw.moref),
        };
        for problem in &raw.problems {
            report.failures.push(format!("{label}: {problem}"));
        }

        // A VM without its configuration (being created, or its files unreachable) cannot
        // be billed right; leaving it out of an incomplete snapshot keeps its last usage.
        let (Some(uuid), Some(cpus), Some(memory_mib)) = (
            raw.instance_uuid.as_deref().map(str::to_owned),
            raw.cpus,
            raw.memory_mib,
        ) else {
            report.failures.push(format!(
                "{label} has no readable configuration (it may be being created, or its files \
                 may be unreachable); it was left out"
            ));
            continue;
        };

        let folder_path = raw
            .parent
            .as_ref()
            .map(|parent| places.path(inventory, parent));
        let pool_path = raw.pool.as_ref().map(|pool| places.path(inventory, pool));
        let pool_name = raw
            .pool
            .as_ref()
            .and_then(|pool| places.name(inventory, pool));
        let mut attributes = BTreeMap::new();
        if let Some(fields) = inventory.fields {
            for (key, value) in &raw.custom_values {
                if let Some(name) = fields.get(key) {
                    attributes.insert(name.clone(), value.clone());
                }
            }
        }
        for path in [&folder_path, &pool_path].into_iter().flatten() {
            if let Err(reason) = path {
                // The listing failure is already reported once; only a gap in a listing that
                // worked is news.
                if inventory.places.is_some() {
                    report.failures.push(format!("{label}: {reason}"));
                }
            }
        }

        let name = display_name(raw.name.as_deref(), &uuid);
        let power_state = raw.power;
        let mut vm = VirtualMachine {
            moref: raw.moref.into_string(),
            instance_uuid: uuid.clone(),
            name: name.clone(),
            cpus,
            memory_mib,
            storage_bytes: raw.storage_bytes,
            disks: raw.disks,
            power_state,
            template: raw.template.unwrap_or(false),
            folder_path: folder_path.and_then(Result::ok),
            resource_pool: pool_name,
            resource_pool_path: pool_path.and_then(Result::ok),
            custom_attributes: attributes,
            customer: None,
        };
        let reference = VmRef {
            name: name.clone(),
            moref: vm.moref.clone(),
        };

        if vm.template {
            report.templates_skipped.push(reference);
            vms.push(vm);
            continue;
        }
        if let Some(first) = seen_ids.insert(uuid.clone(), vms.len()) {
            let first = &vms[first].moref;
            report.failures.push(format!(
                "{label} has the same instance UUID {uuid} as {first}; it was left out until \
                 one of them gets a new UUID"
            ));
            vms.push(vm);
            continue;
        }
        let Ok(id) = ServiceId::new(uuid.clone()) else {
            report.failures.push(format!(
                "{label} has the instance UUID {uuid:?}, which is not usable as an id; it was \
                 left out"
            ));
            vms.push(vm);
            continue;
        };

        let placement = Placement {
            folder_path: vm.folder_path.as_deref(),
            pool_name: vm.resource_pool.as_deref(),
            pool_path: vm.resource_pool_path.as_deref(),
            attributes: &vm.custom_attributes,
        };
        match rules.owner(placement) {
            Ownership::Owned { customer, name, .. } => {
                customers
                    .entry(customer.clone())
                    .or_insert_with(|| name.unwrap_or_else(|| customer.as_str().to_owned()));
                vm.customer = Some(customer);
                report.vms_assigned += 1;
            }
            Ownership::BadAttribute {
                attribute,
                value,
                error,
            } => report.unassigned.push(Unassigned {
                vm: reference,
                reason: format!(
                    "its custom attribute {attribute:?} holds {value:?}, which is not a \
                     customer id: {error}"
                ),
            }),
            Ownership::Unassigned => report.unassigned.push(Unassigned {
                vm: reference,
                reason: "no ownership rule matches it".to_owned(),
            }),
        }

        services.push(Service {
            id,
            customer: vm.customer.clone(),
            kind: ServiceKind::VirtualMachine,
            name,
            power_state: vm.power_state,
            resources: vec![
                resource(ResourceKind::Cpu, Decimal::from(vm.cpus), Unit::Count),
                resource(ResourceKind::Ram, Decimal::from(vm.memory_mib), Unit::Mib),
                resource(
                    ResourceKind::Storage,
                    mebibytes(vm.storage_bytes),
                    Unit::Mib,
                ),
            ],
        });
        vms.push(vm);
    }

    let completeness = if report.failures.is_empty() {
        Completeness::Complete
    } else {
        Completeness::Incomplete {
            reasons: report.failures.clone(),
        }
    };
    let snapshot = Snapshot {
        source: source.source.clone(),
        taken_at,
        completeness,
        customers: customers
            .into_iter()
            .map(|(id, name)| Customer { id, name })
            .collect(),
        services,
    };
    Collection {
        snapshot,
        vms,
        report,
    }
}

fn resource(kind: ResourceKind, quantity: Decimal, unit: Unit) -> Resource {
    Resource {
        kind,
        tier: None,
        quantity,
        unit,
    }
}

/// Bytes as MiB, exactly for whole kibibytes (every real disk); anything finer is rounded up
/// to the next kibibyte so that storage is never under-billed.
fn mebibytes(bytes: u64) -> Decimal {
    let kib = bytes.div_ceil(1024);
    (Decimal::from(kib) / Decimal::from(1024_u32)).normalize()
}

/// A name the snapshot accepts: hidden characters removed, spaces trimmed, and the UUID when
/// nothing is left.
fn display_name(name: Option<&str>, uuid: &str) -> String {
    let mut cleaned: String = name.unwrap_or_default().to_owned();
    while let Some((position, _)) = hidden_character(&cleaned) {
        let index = cleaned
            .char_indices()
            .nth(position - 1)
            .map(|(index, _)| index)
            .unwrap_or(0);
        cleaned.remove(index);
    }
    let trimmed = cleaned.trim();
    if trimmed.is_empty() {
        uuid.to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::Item;

    fn moref(kind: &str, value: &str) -> MoRef {
        MoRef {
            kind: kind.to_owned(),
            value: value.to_owned(),
        }
    }

    fn text(name: &str, value: &str) -> (String, Value) {
        (name.to_owned(), Value::Text(value.to_owned()))
    }

    fn disk(fields: &[(&str, &str)]) -> Item {
        Item {
            xsi_type: Some("VirtualDisk".to_owned()),
            fields: fields
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
        }
    }

    /// A VM object as vCenter sends it, in folder `group-v3` and pool `resgroup-1`.
    fn vm_object(id: &str, uuid: &str) -> ObjectContent {
        ObjectContent {
            obj: moref("VirtualMachine", id),
            props: vec![
                text("name", &format!("vm {id}")),
                text("config.instanceUuid", uuid),
                text("config.template", "false"),
                text("config.hardware.numCPU", "2"),
                text("config.hardware.memoryMB", "4096"),
                (
                    "config.hardware.device".to_owned(),
                    Value::Items(vec![
                        Item {
                            xsi_type: Some("VirtualCdrom".to_owned()),
                            fields: Vec::new(),
                        },
                        disk(&[("capacityInKB", "1"), ("capacityInBytes", "1073741824")]),
                        disk(&[("capacityInKB", "1048576")]),
                    ]),
                ),
                text("runtime.powerState", "suspended"),
                ("parent".to_owned(), Value::Ref(moref("Folder", "group-v3"))),
                (
                    "resourcePool".to_owned(),
                    Value::Ref(moref("ResourcePool", "resgroup-1")),
                ),
            ],
            missing: Vec::new(),
        }
    }

    fn places() -> HashMap<MoRef, Place> {
        let place = |kind: &str, id: &str, name: &str, parent: Option<MoRef>| {
            (
                moref(kind, id),
                Place {
                    moref: moref(kind, id),
                    name: Some(name.to_owned()),
                    parent,
                },
            )
        };
        HashMap::from([
            place(
                "Datacenter",
                "dc-1",
                "DC1",
                Some(moref("Folder", "group-d1")),
            ),
            place(
                "Folder",
                "group-v3",
                "vm",
                Some(moref("Datacenter", "dc-1")),
            ),
            place(
                "Folder",
                "group-h4",
                "host",
                Some(moref("Datacenter", "dc-1")),
            ),
            place(
                "ClusterComputeResource",
                "domain-c1",
                "C1",
                Some(moref("Folder", "group-h4")),
            ),
            place(
                "ResourcePool",
                "resgroup-1",
                "Resources",
                Some(moref("ClusterComputeResource", "domain-c1")),
            ),
        ])
    }

    fn source() -> VsphereSource {
        VsphereSource::new(
            hyalto_domain::SourceId::new("vc").unwrap(),
            "vc.example.com",
            "reader",
            secrecy::SecretString::from("x"),
        )
    }

    fn assemble_objects(objects: Vec<ObjectContent>, places: &HashMap<MoRef, Place>) -> Collection {
        let root = moref("Folder", "group-d1");
        let fields = HashMap::new();
        let inventory = Inventory {
            root: &root,
            places: Some(places),
            fields: Some(&fields),
        };
        let raw = vec![objects.into_iter().map(raw_vm).collect()];
        assemble(&source(), Utc::now(), raw, &inventory, Report::default())
    }

    #[test]
    fn disks_are_summed_preferring_bytes_and_other_devices_are_ignored() {
        let collection = assemble_objects(vec![vm_object("vm-1", "u-1")], &places());

        let vm = &collection.vms[0];
        assert_eq!(vm.storage_bytes, 2 * 1024 * 1024 * 1024);
        assert_eq!(vm.disks, 2);
        assert_eq!(vm.power_state, Some(PowerState::Suspended));
        assert_eq!(vm.folder_path.as_deref(), Some("/DC1/vm"));
        assert_eq!(
            vm.resource_pool_path.as_deref(),
            Some("/DC1/host/C1/Resources")
        );
        let storage = &collection.snapshot.services[0].resources[2];
        assert_eq!(storage.quantity, Decimal::from(2048));
        assert_eq!(collection.snapshot.completeness, Completeness::Complete);
    }

    #[test]
    fn a_vm_without_configuration_is_left_out_and_makes_the_snapshot_incomplete() {
        let mut broken = vm_object("vm-2", "u-2");
        broken
            .props
            .retain(|(name, _)| !name.starts_with("config."));
        broken
            .missing
            .push(("config".to_owned(), "NoPermission".to_owned()));

        let collection = assemble_objects(vec![vm_object("vm-1", "u-1"), broken], &places());

        assert_eq!(collection.snapshot.services.len(), 1);
        let Completeness::Incomplete { reasons } = &collection.snapshot.completeness else {
            panic!("the snapshot claims to be complete");
        };
        assert!(
            reasons.iter().any(|r| r.contains("NoPermission")),
            "{reasons:?}"
        );
        assert!(
            reasons
                .iter()
                .any(|r| r.contains("vm-2") && r.contains("left out")),
            "{reasons:?}"
        );
    }

    #[test]
    fn two_vms_with_one_instance_uuid_make_the_snapshot_incomplete() {
        let collection = assemble_objects(
            vec![vm_object("vm-1", "same"), vm_object("vm-2", "same")],
            &places(),
        );

        assert_eq!(collection.snapshot.services.len(), 1);
        assert!(!collection.snapshot.completeness.is_complete());
        assert!(collection.report.failures[0].contains("same instance UUID"));
    }

    #[test]
    fn a_folder_missing_from_the_listing_makes_the_snapshot_incomplete() {
        let mut places = places();
        places.remove(&moref("Folder", "group-v3"));

        let collection = assemble_objects(vec![vm_object("vm-1", "u-1")], &places);

        assert_eq!(collection.vms[0].folder_path, None);
        assert!(!collection.snapshot.completeness.is_complete());
        assert!(
            collection.report.failures[0].contains("group-v3"),
            "{:?}",
            collection.report.failures
        );
    }

    #[test]
    fn vms_of_one_folder_and_pool_share_one_path_and_keep_their_listing_order() {
        let places = places();
        let root = moref("Folder", "group-d1");
        let fields = HashMap::new();
        let inventory = Inventory {
            root: &root,
            places: Some(&places),
            fields: Some(&fields),
        };
        let pages = vec![
            vec![
                raw_vm(vm_object("vm-1", "u-1")),
                raw_vm(vm_object("vm-2", "u-2")),
            ],
            vec![raw_vm(vm_object("vm-3", "u-3"))],
        ];

        let collection = assemble(&source(), Utc::now(), pages, &inventory, Report::default());

        let [first, second, third] = &collection.vms[..] else {
            panic!("three VMs were listed: {:?}", collection.vms);
        };
        assert_eq!(
            [&first.moref, &second.moref, &third.moref],
            ["vm-1", "vm-2", "vm-3"]
        );
        let (Some(one), Some(other)) = (&first.folder_path, &third.folder_path) else {
            panic!("a folder path is missing");
        };
        assert!(Arc::ptr_eq(one, other), "{one} is spelt out twice");
        let (Some(one), Some(other)) = (&first.resource_pool, &second.resource_pool) else {
            panic!("a pool name is missing");
        };
        assert!(Arc::ptr_eq(one, other), "{one} is spelt out twice");
        assert_eq!(collection.report.vms_listed, 3);
    }

    #[test]
    fn disk_sizes_become_exact_mebibytes_and_odd_bytes_round_up_to_a_kibibyte() {
        assert_eq!(mebibytes(0), Decimal::ZERO);
        assert_eq!(mebibytes(1024 * 1024), Decimal::ONE);
        assert_eq!(mebibytes(1024), Decimal::new(9_765_625, 10));
        assert_eq!(mebibytes(1), Decimal::new(9_765_625, 10));
        assert_eq!(
            mebibytes(40 * 1024 * 1024 * 1024),
            Decimal::from(40 * 1024_u32)
        );
    }

    #[test]
    fn a_name_with_hidden_characters_is_cleaned_and_a_blank_one_becomes_the_uuid() {
        assert_eq!(display_name(Some("web\u{200b}01 "), "u"), "web01");
        assert_eq!(display_name(Some("  "), "uuid-1"), "uuid-1");
        assert_eq!(display_name(None, "uuid-2"), "uuid-2");
    }

    #[test]
    fn a_view_spec_names_every_type_and_path_and_an_object_spec_its_object() {
        let view = spec_set(&[("VirtualMachine", &["name", "parent"])], Target::View);
        let manager = MoRef {
            kind: "CustomFieldsManager".to_owned(),
            value: "CustomFieldsManager".to_owned(),
        };
        let object = spec_set(
            &[("CustomFieldsManager", &["field"])],
            Target::Object(&manager),
        );

        assert!(view.contains("<type>VirtualMachine</type>"));
        assert!(view.contains("<pathSet>parent</pathSet>"));
        assert!(view.contains("{VIEW}"));
        assert!(object.contains("<obj type=\"CustomFieldsManager\">CustomFieldsManager</obj>"));
    }
}
