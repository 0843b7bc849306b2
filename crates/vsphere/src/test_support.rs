//! Test support (the `test-support` feature): govmomi's vCenter simulator, started from
//! hyalto's own launcher (`tools/vcsim`, built into `target/vcsim/vcsim` by `scripts/test`),
//! on a random loopback port per test, and a small independent SOAP client that changes its
//! inventory the way an administrator would (resize, add disks, destroy, mark as template,
//! folders, pools, custom attributes).
//!
//! The administrator's client is deliberately separate from the collector's code: string
//! templates and plain text searches, so a mistake in the collector's XML handling cannot
//! hide itself by being shared with the test. Both this crate's tests and the `hyalto`
//! binary's end-to-end tests use it; nothing else should.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use hyalto_domain::SourceId;
use secrecy::SecretString;

use crate::{OwnershipRules, VsphereSource};

/// The only user name the simulator accepts.
pub const USERNAME: &str = "hyalto@vsphere.local";
/// The only password the simulator accepts.
pub const PASSWORD: &str = "Correct-Horse-7";

/// A running simulator; dropping it stops it and removes its temporary datastores.
pub struct Vcsim {
    child: Child,
    stdin: Option<ChildStdin>,
    /// The SDK address, `http://127.0.0.1:PORT/sdk`.
    pub url: String,
}

/// The launcher: `HYALTO_VCSIM`, else `target/vcsim/vcsim` of this workspace.
pub fn launcher() -> PathBuf {
    if let Some(path) = std::env::var_os("HYALTO_VCSIM") {
        return PathBuf::from(path);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/vcsim/vcsim")
}

impl Vcsim {
    /// Starts the simulator with strict credentials, the fault hooks and these extra flags.
    pub fn start(flags: &[&str]) -> Vcsim {
        let path = launcher();
        assert!(
            path.exists(),
            "the vCenter simulator launcher {} is missing; build it with scripts/test or \
             tools/vcsim/build.sh (it needs Debian's golang-go and \
             golang-github-vmware-govmomi-dev)",
            path.display()
        );

        let mut child = Command::new(&path)
            .args([
                "-username",
                USERNAME,
                "-password",
                PASSWORD,
                "-control",
                "-watch-stdin",
            ])
            .args(flags)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("{} cannot start: {error}", path.display()));

        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout is piped");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the launcher's output is readable");
        if line.trim().is_empty() {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                let _ = pipe.read_to_string(&mut stderr);
            }
            panic!("the simulator did not start: {stderr}");
        }

        // The launcher logs to stderr; nobody reads it, so it must not fill the pipe.
        if let Some(mut pipe) = child.stderr.take() {
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut pipe, &mut std::io::sink());
            });
        }
        Vcsim {
            stdin: child.stdin.take(),
            child,
            url: line.trim().to_owned(),
        }
    }

    /// A source for this simulator with the right credentials and these rules.
    pub fn source(&self, rules: &str) -> VsphereSource {
        let rules = OwnershipRules::from_toml(rules, "the test's rules").expect("the rules parse");
        let mut source = VsphereSource::new(
            SourceId::new("vcsim").unwrap(),
            &self.url,
            USERNAME,
            SecretString::from(PASSWORD),
        );
        source.rules = rules;
        source
    }

    fn base(&self) -> String {
        self.url.trim_end_matches("/sdk").to_owned()
    }

    /// Makes call `skip + 1` of `method` from now answer this HTTP status with no body.
    pub async fn fail_call(&self, method: &str, skip: u32, status: u16) {
        let url = format!(
            "{}/hyalto-vcsim/fault?method={method}&skip={skip}&status={status}",
            self.base()
        );
        let response = reqwest::get(url).await.unwrap();
        assert!(response.status().is_success(), "arming the fault failed");
    }

    /// Drops every session just before call `skip + 1` of `method` from now.
    pub async fn expire_sessions_before(&self, method: &str, skip: u32) {
        let url = format!(
            "{}/hyalto-vcsim/fault?method={method}&skip={skip}&expire=1",
            self.base()
        );
        let response = reqwest::get(url).await.unwrap();
        assert!(response.status().is_success(), "arming the expiry failed");
    }

    /// The SOAP calls served so far, by method.
    pub async fn calls(&self) -> HashMap<String, u64> {
        let url = format!("{}/hyalto-vcsim/calls", self.base());
        reqwest::get(url).await.unwrap().json().await.unwrap()
    }

    /// An administrator's session.
    pub async fn admin(&self) -> Admin {
        let mut admin = Admin {
            http: reqwest::Client::new(),
            url: self.url.clone(),
            cookie: String::new(),
        };
        admin
            .call(&format!(
                "<Login><_this type=\"SessionManager\">SessionManager</_this>\
                 <userName>{USERNAME}</userName><password>{PASSWORD}</password></Login>"
            ))
            .await;
        admin
    }
}

impl Drop for Vcsim {
    fn drop(&mut self) {
        // Closing stdin asks the launcher to stop and clean up; a kill is the fallback.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain SOAP client for changing the simulator's inventory.
pub struct Admin {
    http: reqwest::Client,
    url: String,
    cookie: String,
}

impl Admin {
    /// Sends one call and returns the answer's text; panics on anything but HTTP 200.
    pub async fn call(&mut self, body: &str) -> String {
        let envelope = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns=\"urn:vim25\">\
             <soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
        );
        let mut request = self
            .http
            .post(&self.url)
            .header("Content-Type", "text/xml; charset=utf-8")
            .body(envelope);
        if !self.cookie.is_empty() {
            request = request.header("Cookie", &self.cookie);
        }
        let response = request.send().await.unwrap();
        if let Some(cookie) = response.headers().get("set-cookie") {
            let text = cookie.to_str().unwrap();
            self.cookie = text.split(';').next().unwrap().to_owned();
        }
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, 200, "the simulator refused {body}: {text}");
        text
    }

    /// The managed object id at an inventory path such as `DC0/vm/DC0_C0_RP0_VM0`.
    pub async fn find(&mut self, path: &str) -> String {
        let answer = self
            .call(&format!(
                "<FindByInventoryPath><_this type=\"SearchIndex\">SearchIndex</_this>\
                 <inventoryPath>{path}</inventoryPath></FindByInventoryPath>"
            ))
            .await;
        between(&answer, "<returnval", "</returnval>")
            .and_then(|tag| tag.split('>').nth(1))
            .unwrap_or_else(|| panic!("nothing at {path}: {answer}"))
            .to_owned()
    }

    /// Runs a `*_Task` call and waits for the task to succeed.
    pub async fn task(&mut self, body: &str) {
        let answer = self.call(body).await;
        let task = between(&answer, "<returnval type=\"Task\">", "</returnval>")
            .unwrap_or_else(|| panic!("no task in {answer}"))
            .to_owned();
        for _ in 0..200 {
            let info = self
                .call(&format!(
                    "<RetrievePropertiesEx><_this type=\"PropertyCollector\">propertyCollector\
                     </_this><specSet><propSet><type>Task</type><pathSet>info.state</pathSet>\
                     <pathSet>info.error</pathSet></propSet><objectSet>\
                     <obj type=\"Task\">{task}</obj></objectSet></specSet><options/>\
                     </RetrievePropertiesEx>"
                ))
                .await;
            if info.contains(">success<") {
                return;
            }
            assert!(!info.contains(">error<"), "task {task} failed: {info}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("task {task} did not finish");
    }

    /// Sets a VM's vCPU count and memory (`ReconfigVM_Task`).
    pub async fn reconfigure_cpu_memory(&mut self, vm: &str, cpus: u32, memory_mb: u64) {
        self.task(&format!(
            "<ReconfigVM_Task><_this type=\"VirtualMachine\">{vm}</_this><spec>\
             <numCPUs>{cpus}</numCPUs><memoryMB>{memory_mb}</memoryMB></spec></ReconfigVM_Task>"
        ))
        .await;
    }

    /// Adds a new thin disk on the model VMs' SCSI controller (key 202).
    pub async fn add_disk(&mut self, vm: &str, unit: u32, capacity_kb: u64) {
        self.task(&format!(
            "<ReconfigVM_Task><_this type=\"VirtualMachine\">{vm}</_this><spec><deviceChange>\
             <operation>add</operation><fileOperation>create</fileOperation>\
             <device xsi:type=\"VirtualDisk\"><key>-100</key>\
             <backing xsi:type=\"VirtualDiskFlatVer2BackingInfo\"><fileName></fileName>\
             <diskMode>persistent</diskMode><thinProvisioned>true</thinProvisioned></backing>\
             <controllerKey>202</controllerKey><unitNumber>{unit}</unitNumber>\
             <capacityInKB>{capacity_kb}</capacityInKB></device></deviceChange></spec>\
             </ReconfigVM_Task>"
        ))
        .await;
    }

    /// Grows the disk at `unit` by sending the device back as read, with a new capacity, as
    /// vSphere clients do.
    pub async fn grow_disk(&mut self, vm: &str, unit: u32, capacity_kb: u64) {
        let answer = self
            .call(&format!(
                "<RetrievePropertiesEx><_this type=\"PropertyCollector\">propertyCollector\
                 </_this><specSet><propSet><type>VirtualMachine</type>\
                 <pathSet>config.hardware.device</pathSet></propSet><objectSet>\
                 <obj type=\"VirtualMachine\">{vm}</obj></objectSet></specSet><options/>\
                 </RetrievePropertiesEx>"
            ))
            .await;
        // The device list is written with whatever prefix the server bound to the schema
        // instance namespace; the simulator uses `XMLSchema-instance`.
        let answer = answer.replace("XMLSchema-instance:type", "xsi:type");
        let disk = answer
            .split("<VirtualDevice ")
            .skip(1)
            .map(|part| part.split("</VirtualDevice>").next().unwrap())
            .find(|part| {
                part.starts_with("xsi:type=\"VirtualDisk\"")
                    && part.contains(&format!("<unitNumber>{unit}</unitNumber>"))
            })
            .unwrap_or_else(|| panic!("{vm} has no disk at unit {unit}: {answer}"));
        let old = between(disk, "<capacityInKB>", "</capacityInKB>").unwrap();
        let device = disk.replace(
            &format!("<capacityInKB>{old}</capacityInKB>"),
            &format!("<capacityInKB>{capacity_kb}</capacityInKB>"),
        );
        self.task(&format!(
            "<ReconfigVM_Task><_this type=\"VirtualMachine\">{vm}</_this><spec><deviceChange>\
             <operation>edit</operation><device {device}</device></deviceChange></spec>\
             </ReconfigVM_Task>"
        ))
        .await;
    }

    /// Powers a VM off (`PowerOffVM_Task`).
    pub async fn power_off(&mut self, vm: &str) {
        self.task(&format!(
            "<PowerOffVM_Task><_this type=\"VirtualMachine\">{vm}</_this></PowerOffVM_Task>"
        ))
        .await;
    }

    /// Deletes a VM (`Destroy_Task`).
    pub async fn destroy(&mut self, vm: &str) {
        self.task(&format!(
            "<Destroy_Task><_this type=\"VirtualMachine\">{vm}</_this></Destroy_Task>"
        ))
        .await;
    }

    /// Turns a VM into a template (`MarkAsTemplate`).
    pub async fn mark_as_template(&mut self, vm: &str) {
        self.call(&format!(
            "<MarkAsTemplate><_this type=\"VirtualMachine\">{vm}</_this></MarkAsTemplate>"
        ))
        .await;
    }

    /// Creates a VM without any disk in `folder` and `pool`.
    pub async fn create_vm_without_disks(
        &mut self,
        folder: &str,
        pool: &str,
        name: &str,
        cpus: u32,
        memory_mb: u64,
    ) {
        self.task(&format!(
            "<CreateVM_Task><_this type=\"Folder\">{folder}</_this><config><name>{name}</name>\
             <guestId>otherGuest64</guestId><files><vmPathName>[LocalDS_0]</vmPathName></files>\
             <numCPUs>{cpus}</numCPUs><memoryMB>{memory_mb}</memoryMB></config>\
             <pool type=\"ResourcePool\">{pool}</pool></CreateVM_Task>"
        ))
        .await;
    }

    /// Creates a folder under `parent` and returns its managed object id.
    pub async fn create_folder(&mut self, parent: &str, name: &str) -> String {
        let answer = self
            .call(&format!(
                "<CreateFolder><_this type=\"Folder\">{parent}</_this><name>{name}</name>\
                 </CreateFolder>"
            ))
            .await;
        between(&answer, "<returnval type=\"Folder\">", "</returnval>")
            .unwrap()
            .to_owned()
    }

    /// Moves a VM into `folder` (`MoveIntoFolder_Task`).
    pub async fn move_into_folder(&mut self, folder: &str, vm: &str) {
        self.task(&format!(
            "<MoveIntoFolder_Task><_this type=\"Folder\">{folder}</_this>\
             <list type=\"VirtualMachine\">{vm}</list></MoveIntoFolder_Task>"
        ))
        .await;
    }

    /// Creates a resource pool under `parent` and returns its managed object id.
    pub async fn create_resource_pool(&mut self, parent: &str, name: &str) -> String {
        let allocation = "<reservation>0</reservation>\
            <expandableReservation>true</expandableReservation><limit>-1</limit>\
            <shares><shares>4000</shares><level>normal</level></shares>";
        let answer = self
            .call(&format!(
                "<CreateResourcePool><_this type=\"ResourcePool\">{parent}</_this>\
                 <name>{name}</name><spec><cpuAllocation>{allocation}</cpuAllocation>\
                 <memoryAllocation>{allocation}</memoryAllocation></spec></CreateResourcePool>"
            ))
            .await;
        between(&answer, "<returnval type=\"ResourcePool\">", "</returnval>")
            .unwrap()
            .to_owned()
    }

    /// Defines a custom attribute for VMs and returns its key.
    pub async fn add_custom_field(&mut self, name: &str) -> String {
        let answer = self
            .call(&format!(
                "<AddCustomFieldDef><_this type=\"CustomFieldsManager\">CustomFieldsManager\
                 </_this><name>{name}</name><moType>VirtualMachine</moType></AddCustomFieldDef>"
            ))
            .await;
        between(&answer, "<key>", "</key>").unwrap().to_owned()
    }

    /// Sets the custom attribute `key` of a VM.
    pub async fn set_custom_value(&mut self, vm: &str, key: &str, value: &str) {
        self.call(&format!(
            "<SetField><_this type=\"CustomFieldsManager\">CustomFieldsManager</_this>\
             <entity type=\"VirtualMachine\">{vm}</entity><key>{key}</key>\
             <value>{value}</value></SetField>"
        ))
        .await;
    }
}

/// The text between the first `start` and the next `end`.
pub fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(&text[from..to])
}
