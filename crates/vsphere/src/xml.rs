//! Streaming readers for vSphere SOAP answers.
//!
//! Answers are read event by event with quick-xml's namespace-aware reader; no document tree
//! is ever built, so a page of thousands of virtual machines costs only the few values kept
//! from it. Elements and attributes are recognised by namespace URI and local name, never by
//! prefix: vCenter writes `xsi:type`, while govmomi's simulator binds the same namespace to
//! `XMLSchema-instance`, and both are valid XML.

use std::io::BufRead;

use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::reader::NsReader;

/// The SOAP 1.1 envelope namespace.
const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The vSphere API namespace.
const VIM: &str = "urn:vim25";
/// The XML Schema instance namespace, which holds the `type` attribute of polymorphic values.
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// A managed object reference: an opaque id and the type of the object it names.
///
/// Its value is never parsed: vCenter and the simulator spell them differently (`vm-45`,
/// `domain-c16`, `session[…]…`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MoRef {
    /// The managed object type, such as `VirtualMachine` or `Folder`.
    pub kind: String,
    /// The opaque id, such as `vm-45`.
    pub value: String,
}

/// A SOAP fault as vCenter sends it: the vSphere fault type and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fault {
    /// The vSphere fault type, such as `NotAuthenticated` or `InvalidLogin`, taken from the
    /// `xsi:type` of the detail element (or its name without the `Fault` suffix).
    pub(crate) kind: String,
    /// The `faultstring`; may be empty.
    pub(crate) message: String,
}

/// Why an answer could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct XmlError(pub(crate) String);

impl From<quick_xml::Error> for XmlError {
    fn from(error: quick_xml::Error) -> XmlError {
        XmlError(format!("the XML is malformed ({error})"))
    }
}

/// What an answer held: the call's result or a fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer<T> {
    /// The call succeeded.
    Result(T),
    /// The call failed with this fault.
    Fault(Fault),
}

/// One leaf value of a small answer, with its path below `returnval`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Leaf {
    /// Element names from `returnval` down, joined by `/`; empty for `returnval` itself.
    pub(crate) path: String,
    /// The element's text.
    pub(crate) text: String,
    /// The element's plain `type` attribute, which managed object references carry.
    pub(crate) type_attr: Option<String>,
}

/// A property value from `RetrievePropertiesEx`, kept only as far as hyalto reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// A simple value: text, number, boolean or enumeration.
    Text(String),
    /// A managed object reference.
    Ref(MoRef),
    /// An array of data objects, each with its `xsi:type` and its leaf fields. Nested data
    /// objects inside an item are skipped.
    Items(Vec<Item>),
}

/// One data object of an array value, such as a virtual device or a custom field value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Item {
    /// The `xsi:type` of the item, such as `VirtualDisk`.
    pub(crate) xsi_type: Option<String>,
    /// The item's direct children that hold only text, in document order.
    pub(crate) fields: Vec<(String, String)>,
}

impl Item {
    /// The text of the first field with this name.
    pub(crate) fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, text)| text.as_str())
    }
}

/// One object of a `RetrievePropertiesEx` answer with the properties that were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ObjectContent {
    /// The object.
    pub(crate) obj: MoRef,
    /// Property name and value, for every property the server set.
    pub(crate) props: Vec<(String, Value)>,
    /// Properties the server could not read, with the fault type it gave.
    pub(crate) missing: Vec<(String, String)>,
}

/// Where an element's name belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ns {
    Envelope,
    Vim,
    Other,
}

/// A start tag, reduced to what the readers look at.
#[derive(Debug)]
struct Start {
    ns: Ns,
    local: String,
    xsi_type: Option<String>,
    type_attr: Option<String>,
}

/// The events the readers work with.
#[derive(Debug)]
enum Step {
    Start(Start),
    End,
    Text(String),
    Eof,
}

/// A namespace-aware pull reader that turns quick-xml events into [`Step`]s.
struct Walker<R> {
    reader: NsReader<R>,
    buf: Vec<u8>,
}

impl<R: BufRead> Walker<R> {
    fn new(input: R) -> Walker<R> {
        let mut reader = NsReader::from_reader(input);
        // `<a/>` and `<a></a>` mean the same; one shape keeps the readers simple.
        reader.config_mut().expand_empty_elements = true;
        Walker {
            reader,
            buf: Vec::with_capacity(1024),
        }
    }

    fn next(&mut self) -> Result<Step, XmlError> {
        loop {
            self.buf.clear();
            let (resolved, event) = self.reader.read_resolved_event_into(&mut self.buf)?;
            let ns = match resolved {
                ResolveResult::Bound(Namespace(uri)) if uri == SOAP_ENV => Ns::Envelope,
                ResolveResult::Bound(Namespace(uri)) if uri == VIM => Ns::Vim,
                _ => Ns::Other,
            };
            match event {
                Event::Start(start) => {
                    let start = describe(&start, ns, &self.reader)?;
                    return Ok(Step::Start(start));
                }
                Event::End(_) => return Ok(Step::End),
                Event::Text(text) => return Ok(Step::Text(text.xml10_content().into_owned())),
                Event::CData(data) => {
                    let text = data.into_inner().into_owned();
                    return Ok(Step::Text(text));
                }
                Event::GeneralRef(reference) => {
                    let text = match reference.resolve_char_ref()? {
                        Some(c) => c.to_string(),
                        None => {
                            let name = reference.xml10_content();
                            quick_xml::escape::resolve_predefined_entity(&name)
                                .ok_or_else(|| {
                                    XmlError(format!("the entity &{name}; is not defined"))
                                })?
                                .to_owned()
                        }
                    };
                    return Ok(Step::Text(text));
                }
                Event::Eof => return Ok(Step::Eof),
                // Declarations, comments and processing instructions carry no data.
                Event::Empty(_)
                | Event::Comment(_)
                | Event::Decl(_)
                | Event::PI(_)
                | Event::DocType(_) => {}
            }
        }
    }

    /// Reads the text of the element just started, up to its end tag. Child elements are
    /// skipped and make the result `None`.
    fn leaf_text(&mut self) -> Result<Option<String>, XmlError> {
        let mut text = String::new();
        let mut leaf = true;
        loop {
            match self.next()? {
                Step::Text(part) => text.push_str(&part),
                Step::Start(_) => {
                    leaf = false;
                    self.skip()?;
                }
                Step::End => return Ok(leaf.then_some(text)),
                Step::Eof => return Err(truncated()),
            }
        }
    }

    /// Skips the rest of the element just started, children included.
    fn skip(&mut self) -> Result<(), XmlError> {
        let mut depth = 1_usize;
        while depth > 0 {
            match self.next()? {
                Step::Start(_) => depth += 1,
                Step::End => depth -= 1,
                Step::Text(_) => {}
                Step::Eof => return Err(truncated()),
            }
        }
        Ok(())
    }

    /// Reads up to the first element inside the SOAP body, and reads the fault if it is one.
    /// Returns the name of the answer element otherwise.
    fn open_body(&mut self) -> Result<Answer<String>, XmlError> {
        let mut seen_envelope = false;
        loop {
            match self.next()? {
                Step::Start(start) if start.ns == Ns::Envelope && start.local == "Envelope" => {
                    seen_envelope = true;
                }
                Step::Start(start) if start.ns == Ns::Envelope && start.local == "Header" => {
                    self.skip()?;
                }
                Step::Start(start) if start.ns == Ns::Envelope && start.local == "Body" => {
                    return self.first_in_body();
                }
                Step::Start(start) => {
                    let what = if seen_envelope {
                        "no SOAP Body"
                    } else {
                        "no SOAP Envelope"
                    };
                    return Err(XmlError(format!(
                        "the answer has {what}; it starts with <{}>",
                        start.local
                    )));
                }
                Step::Text(_) | Step::End => {}
                Step::Eof => return Err(XmlError("the answer is empty".to_owned())),
            }
        }
    }

    fn first_in_body(&mut self) -> Result<Answer<String>, XmlError> {
        loop {
            match self.next()? {
                Step::Start(start) if start.ns == Ns::Envelope && start.local == "Fault" => {
                    return self.fault().map(Answer::Fault);
                }
                Step::Start(start) => return Ok(Answer::Result(start.local)),
                Step::Text(_) => {}
                Step::End | Step::Eof => {
                    return Err(XmlError("the SOAP Body is empty".to_owned()));
                }
            }
        }
    }

    /// Reads a `Fault` element whose start was just read.
    fn fault(&mut self) -> Result<Fault, XmlError> {
        let mut message = String::new();
        let mut kind = None;
        loop {
            match self.next()? {
                Step::Start(start) if start.local == "faultstring" => {
                    message = self.leaf_text()?.unwrap_or_default();
                }
                Step::Start(start) if start.local == "detail" => {
                    kind = self.fault_detail()?;
                }
                Step::Start(_) => self.skip()?,
                Step::Text(_) => {}
                Step::End => break,
                Step::Eof => return Err(truncated()),
            }
        }
        Ok(Fault {
            kind: kind.unwrap_or_else(|| "unknown".to_owned()),
            message: message.trim().to_owned(),
        })
    }

    /// Reads a fault's `detail` and returns the vSphere fault type it names.
    fn fault_detail(&mut self) -> Result<Option<String>, XmlError> {
        let mut kind = None;
        loop {
            match self.next()? {
                Step::Start(start) => {
                    if kind.is_none() {
                        let from_name = start
                            .local
                            .strip_suffix("Fault")
                            .unwrap_or(&start.local)
                            .to_owned();
                        kind = Some(start.xsi_type.unwrap_or(from_name));
                    }
                    self.skip()?;
                }
                Step::Text(_) => {}
                Step::End => return Ok(kind),
                Step::Eof => return Err(truncated()),
            }
        }
    }
}

/// Reduces a start tag to its namespace, local name, `xsi:type` and `type` attributes.
fn describe<R>(start: &BytesStart<'_>, ns: Ns, reader: &NsReader<R>) -> Result<Start, XmlError> {
    let local = start.local_name().as_ref().to_owned();
    let mut xsi_type = None;
    let mut type_attr = None;
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|error| XmlError(format!("bad attribute: {error}")))?;
        let (resolved, name) = reader.resolver().resolve_attribute(attribute.key);
        if name.as_ref() != "type" {
            continue;
        }
        let value = attribute
            .normalized_value(XmlVersion::Implicit1_0)?
            .into_owned();
        match resolved {
            ResolveResult::Bound(Namespace(uri)) if uri == XSI => {
                // The value is itself a qualified name (`xsd:int`, `VirtualDisk`); only its
                // local part matters.
                let local_type = value.rsplit(':').next().unwrap_or(&value).to_owned();
                xsi_type = Some(local_type);
            }
            ResolveResult::Unbound => type_attr = Some(value),
            _ => {}
        }
    }
    Ok(Start {
        ns,
        local,
        xsi_type,
        type_attr,
    })
}

fn truncated() -> XmlError {
    XmlError("the answer ends in the middle of the document".to_owned())
}

/// An element being read by [`parse_leaves`].
struct Frame {
    name: String,
    type_attr: Option<String>,
    text: String,
    has_children: bool,
}

/// Reads a small answer (`RetrieveServiceContent`, `Login`, `CreateContainerView`…) into the
/// leaf values below its `returnval` elements.
pub(crate) fn parse_leaves(input: &[u8]) -> Result<Answer<Vec<Leaf>>, XmlError> {
    let mut walker = Walker::new(input);
    match walker.open_body()? {
        Answer::Fault(fault) => return Ok(Answer::Fault(fault)),
        Answer::Result(_) => {}
    }

    let mut leaves = Vec::new();
    // The open elements below the answer element; the first is a `returnval`.
    let mut open: Vec<Frame> = Vec::new();
    loop {
        match walker.next()? {
            Step::Start(start) => {
                if let Some(parent) = open.last_mut() {
                    parent.has_children = true;
                }
                open.push(Frame {
                    name: start.local,
                    type_attr: start.type_attr,
                    text: String::new(),
                    has_children: false,
                });
            }
            Step::Text(part) => {
                if let Some(frame) = open.last_mut() {
                    frame.text.push_str(&part);
                }
            }
            Step::End => {
                let Some(frame) = open.pop() else {
                    // The answer element ended: the rest of the envelope holds nothing.
                    break;
                };
                if !frame.has_children {
                    let mut names: Vec<&str> =
                        open.iter().skip(1).map(|f| f.name.as_str()).collect();
                    if !open.is_empty() {
                        names.push(&frame.name);
                    }
                    leaves.push(Leaf {
                        path: names.join("/"),
                        text: frame.text,
                        type_attr: frame.type_attr,
                    });
                }
            }
            Step::Eof => return Err(truncated()),
        }
    }
    Ok(Answer::Result(leaves))
}

/// Reads a `RetrievePropertiesEx` or `ContinueRetrievePropertiesEx` answer as a stream,
/// handing each object to `on_object` as soon as its end tag is read. Returns the paging
/// token, if the server has more objects.
pub(crate) fn parse_retrieve<R: BufRead>(
    input: R,
    mut on_object: impl FnMut(ObjectContent),
) -> Result<Answer<Option<String>>, XmlError> {
    let mut walker = Walker::new(input);
    match walker.open_body()? {
        Answer::Fault(fault) => return Ok(Answer::Fault(fault)),
        Answer::Result(_) => {}
    }

    let mut token = None;
    loop {
        match walker.next()? {
            // An answer without objects has no `returnval` at all.
            Step::End => return Ok(Answer::Result(token)),
            Step::Start(start) if start.local == "returnval" => loop {
                match walker.next()? {
                    Step::Start(start) if start.local == "token" => {
                        token = walker.leaf_text()?.map(|text| text.trim().to_owned());
                    }
                    Step::Start(start) if start.local == "objects" => {
                        on_object(read_object(&mut walker)?);
                    }
                    Step::Start(_) => walker.skip()?,
                    Step::Text(_) => {}
                    Step::End => break,
                    Step::Eof => return Err(truncated()),
                }
            },
            Step::Start(_) => walker.skip()?,
            Step::Text(_) => {}
            Step::Eof => return Err(truncated()),
        }
    }
}

/// Reads one `objects` element whose start was just read.
fn read_object<R: BufRead>(walker: &mut Walker<R>) -> Result<ObjectContent, XmlError> {
    let mut obj = None;
    let mut props = Vec::new();
    let mut missing = Vec::new();
    loop {
        match walker.next()? {
            Step::Start(start) if start.local == "obj" => {
                let value = walker.leaf_text()?.unwrap_or_default();
                obj = Some(MoRef {
                    kind: start.type_attr.unwrap_or_default(),
                    value,
                });
            }
            Step::Start(start) if start.local == "propSet" => {
                if let Some(prop) = read_property(walker)? {
                    props.push(prop);
                }
            }
            Step::Start(start) if start.local == "missingSet" => {
                missing.push(read_missing(walker)?);
            }
            Step::Start(_) => walker.skip()?,
            Step::Text(_) => {}
            Step::End => break,
            Step::Eof => return Err(truncated()),
        }
    }
    let obj = obj.ok_or_else(|| XmlError("an object has no <obj> reference".to_owned()))?;
    Ok(ObjectContent {
        obj,
        props,
        missing,
    })
}

/// Reads one `propSet` (name and value).
fn read_property<R: BufRead>(walker: &mut Walker<R>) -> Result<Option<(String, Value)>, XmlError> {
    let mut name = None;
    let mut value = None;
    loop {
        match walker.next()? {
            Step::Start(start) if start.local == "name" => {
                name = walker.leaf_text()?;
            }
            Step::Start(start) if start.local == "val" => {
                value = Some(read_value(walker, start)?);
            }
            Step::Start(_) => walker.skip()?,
            Step::Text(_) => {}
            Step::End => break,
            Step::Eof => return Err(truncated()),
        }
    }
    Ok(name.zip(value))
}

/// Reads one `missingSet`: the property path and the fault type that kept it from being read.
fn read_missing<R: BufRead>(walker: &mut Walker<R>) -> Result<(String, String), XmlError> {
    let mut path = String::new();
    let mut fault = "unknown".to_owned();
    loop {
        match walker.next()? {
            Step::Start(start) if start.local == "path" => {
                path = walker.leaf_text()?.unwrap_or_default();
            }
            Step::Start(start) if start.local == "fault" => loop {
                match walker.next()? {
                    Step::Start(inner) if inner.local == "fault" => {
                        if let Some(kind) = inner.xsi_type {
                            fault = kind;
                        }
                        walker.skip()?;
                    }
                    Step::Start(_) => walker.skip()?,
                    Step::Text(_) => {}
                    Step::End => break,
                    Step::Eof => return Err(truncated()),
                }
            },
            Step::Start(_) => walker.skip()?,
            Step::Text(_) => {}
            Step::End => break,
            Step::Eof => return Err(truncated()),
        }
    }
    Ok((path, fault))
}

/// Reads a `val` element: text, a reference, or an array of data objects.
fn read_value<R: BufRead>(walker: &mut Walker<R>, start: Start) -> Result<Value, XmlError> {
    let mut text = String::new();
    let mut items: Vec<Item> = Vec::new();
    loop {
        match walker.next()? {
            Step::Text(part) => text.push_str(&part),
            Step::Start(item_start) => items.push(read_item(walker, item_start)?),
            Step::End => break,
            Step::Eof => return Err(truncated()),
        }
    }

    let is_array = start
        .xsi_type
        .as_deref()
        .is_some_and(|kind| kind.starts_with("ArrayOf"));
    if is_array || !items.is_empty() {
        return Ok(Value::Items(items));
    }
    match start.type_attr {
        Some(kind) => Ok(Value::Ref(MoRef { kind, value: text })),
        None => Ok(Value::Text(text)),
    }
}

/// Reads one data object of an array value.
fn read_item<R: BufRead>(walker: &mut Walker<R>, start: Start) -> Result<Item, XmlError> {
    let mut item = Item {
        xsi_type: start.xsi_type,
        fields: Vec::new(),
    };
    loop {
        match walker.next()? {
            Step::Start(field) => {
                if let Some(text) = walker.leaf_text()? {
                    item.fields.push((field.local, text));
                }
            }
            Step::Text(_) => {}
            Step::End => return Ok(item),
            Step::Eof => return Err(truncated()),
        }
    }
}

/// Reads `vimServiceVersions.xml` and returns the newest version of the `urn:vim25` API.
pub(crate) fn parse_service_version(input: &[u8]) -> Result<Option<String>, XmlError> {
    let mut walker = Walker::new(input);
    let mut path: Vec<String> = Vec::new();
    let mut namespace_name = None;
    let mut version = None;
    loop {
        match walker.next()? {
            Step::Start(start) => {
                let leaf_parent = path.last().map(String::as_str) == Some("namespace");
                if leaf_parent && (start.local == "name" || start.local == "version") {
                    let text = walker.leaf_text()?.unwrap_or_default().trim().to_owned();
                    if start.local == "name" {
                        namespace_name = Some(text);
                    } else {
                        version = Some(text);
                    }
                    continue;
                }
                path.push(start.local);
            }
            Step::End => {
                if path.pop().as_deref() == Some("namespace") {
                    if namespace_name.as_deref() == Some("urn:vim25") && version.is_some() {
                        return Ok(version);
                    }
                    namespace_name = None;
                    version = None;
                }
            }
            Step::Text(_) => {}
            Step::Eof => return Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(body: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
             xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\
             <soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
        )
    }

    fn retrieve(body: &str) -> (Option<String>, Vec<ObjectContent>) {
        let text = envelope(body);
        let mut objects = Vec::new();
        match parse_retrieve(text.as_bytes(), |object| objects.push(object)).unwrap() {
            Answer::Result(token) => (token, objects),
            Answer::Fault(fault) => panic!("unexpected fault {fault:?}"),
        }
    }

    #[test]
    fn an_xsi_type_written_with_another_prefix_is_recognised_by_its_namespace() {
        // The same namespace bound to `XMLSchema-instance`, as govmomi's simulator writes it,
        // and a misleading `xsi` prefix bound to something else on the second item.
        let (_, objects) = retrieve(
            "<RetrievePropertiesExResponse xmlns=\"urn:vim25\"><returnval><objects>\
             <obj type=\"VirtualMachine\">vm-1</obj>\
             <propSet><name>config.hardware.device</name>\
             <val xmlns:XMLSchema-instance=\"http://www.w3.org/2001/XMLSchema-instance\" \
             XMLSchema-instance:type=\"ArrayOfVirtualDevice\">\
             <VirtualDevice XMLSchema-instance:type=\"VirtualDisk\"><key>2000</key>\
             <backing XMLSchema-instance:type=\"VirtualDiskFlatVer2BackingInfo\">\
             <fileName>[ds] a.vmdk</fileName></backing>\
             <capacityInKB>1024</capacityInKB></VirtualDevice>\
             <VirtualDevice xmlns:xsi=\"urn:not-schema\" xsi:type=\"VirtualDisk\">\
             <capacityInKB>5</capacityInKB></VirtualDevice>\
             </val></propSet></objects></returnval></RetrievePropertiesExResponse>",
        );

        let Value::Items(items) = &objects[0].props[0].1 else {
            panic!("expected items, got {:?}", objects[0].props);
        };
        assert_eq!(items[0].xsi_type.as_deref(), Some("VirtualDisk"));
        assert_eq!(items[0].field("capacityInKB"), Some("1024"));
        assert_eq!(
            items[0].field("fileName"),
            None,
            "nested fields are skipped"
        );
        assert_eq!(items[1].xsi_type, None);
    }

    #[test]
    fn a_paging_token_and_every_object_with_its_properties_are_read() {
        let (token, objects) = retrieve(
            "<RetrievePropertiesExResponse xmlns=\"urn:vim25\"><returnval>\
             <token>page-7</token>\
             <objects><obj type=\"VirtualMachine\">vm-1</obj>\
             <propSet><name>name</name><val xsi:type=\"xsd:string\">web &amp; db&#33;</val>\
             </propSet>\
             <propSet><name>parent</name>\
             <val type=\"Folder\" xsi:type=\"ManagedObjectReference\">group-v3</val></propSet>\
             <propSet><name>customValue</name><val xsi:type=\"ArrayOfCustomFieldValue\">\
             <CustomFieldValue xsi:type=\"CustomFieldStringValue\"><key>101</key>\
             <value>acme</value></CustomFieldValue></val></propSet>\
             </objects>\
             <objects><obj type=\"VirtualMachine\">vm-2</obj>\
             <missingSet><path>config</path><fault><fault xsi:type=\"NoPermission\">\
             <privilegeId>System.Read</privilegeId></fault></fault></missingSet></objects>\
             </returnval></RetrievePropertiesExResponse>",
        );

        assert_eq!(token.as_deref(), Some("page-7"));
        assert_eq!(objects.len(), 2);
        assert_eq!(objects[0].obj.value, "vm-1");
        assert_eq!(
            objects[0].props[0],
            ("name".to_owned(), Value::Text("web & db!".to_owned()))
        );
        assert_eq!(
            objects[0].props[1].1,
            Value::Ref(MoRef {
                kind: "Folder".to_owned(),
                value: "group-v3".to_owned()
            })
        );
        let Value::Items(values) = &objects[0].props[2].1 else {
            panic!("customValue is not an array");
        };
        assert_eq!(values[0].field("key"), Some("101"));
        assert_eq!(values[0].field("value"), Some("acme"));
        assert_eq!(
            objects[1].missing,
            vec![("config".to_owned(), "NoPermission".to_owned())]
        );
    }

    #[test]
    fn the_last_page_has_no_token_and_an_empty_answer_has_no_objects() {
        let (token, objects) = retrieve(
            "<ContinueRetrievePropertiesExResponse xmlns=\"urn:vim25\"><returnval>\
             <objects><obj type=\"Folder\">group-v3</obj></objects></returnval>\
             </ContinueRetrievePropertiesExResponse>",
        );
        assert_eq!((token, objects.len()), (None, 1));

        let (token, objects) = retrieve("<RetrievePropertiesExResponse xmlns=\"urn:vim25\"/>");
        assert_eq!((token, objects.len()), (None, 0));
    }

    #[test]
    fn a_soap_fault_gives_the_vsphere_fault_type_and_message() {
        let text = envelope(
            "<soapenv:Fault><faultcode>ServerFaultCode</faultcode>\
             <faultstring>The session is not authenticated.</faultstring>\
             <detail><NotAuthenticatedFault xmlns=\"urn:vim25\" \
             xmlns:XMLSchema-instance=\"http://www.w3.org/2001/XMLSchema-instance\" \
             XMLSchema-instance:type=\"NotAuthenticated\"><object type=\"Folder\">group-d1\
             </object><privilegeId>System.View</privilegeId></NotAuthenticatedFault>\
             </detail></soapenv:Fault>",
        );

        let answer = parse_retrieve(text.as_bytes(), |_| panic!("a fault has no objects"));

        assert_eq!(
            answer.unwrap(),
            Answer::Fault(Fault {
                kind: "NotAuthenticated".to_owned(),
                message: "The session is not authenticated.".to_owned(),
            })
        );
    }

    #[test]
    fn a_fault_without_xsi_type_is_named_after_its_detail_element() {
        let text = envelope(
            "<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>Login failure\
             </faultstring><detail><InvalidLoginFault xmlns=\"urn:vim25\"/></detail>\
             </soapenv:Fault>",
        );

        let Answer::Fault(fault) = parse_leaves(text.as_bytes()).unwrap() else {
            panic!("expected a fault");
        };

        assert_eq!(fault.kind, "InvalidLogin");
        assert_eq!(fault.message, "Login failure");
    }

    #[test]
    fn a_small_answer_gives_its_leaves_with_paths_and_reference_types() {
        let text = envelope(
            "<RetrieveServiceContentResponse xmlns=\"urn:vim25\"><returnval>\
             <rootFolder type=\"Folder\">group-d1</rootFolder>\
             <about><apiVersion>6.5</apiVersion><instanceUuid>abc</instanceUuid></about>\
             </returnval></RetrieveServiceContentResponse>",
        );

        let Answer::Result(leaves) = parse_leaves(text.as_bytes()).unwrap() else {
            panic!("expected a result");
        };

        assert_eq!(
            leaves,
            vec![
                Leaf {
                    path: "rootFolder".to_owned(),
                    text: "group-d1".to_owned(),
                    type_attr: Some("Folder".to_owned()),
                },
                Leaf {
                    path: "about/apiVersion".to_owned(),
                    text: "6.5".to_owned(),
                    type_attr: None,
                },
                Leaf {
                    path: "about/instanceUuid".to_owned(),
                    text: "abc".to_owned(),
                    type_attr: None,
                },
            ]
        );
    }

    #[test]
    fn a_returnval_that_is_itself_a_reference_is_one_leaf_with_an_empty_path() {
        let text = envelope(
            "<CreateContainerViewResponse xmlns=\"urn:vim25\">\
             <returnval type=\"ContainerView\">session[1]2</returnval>\
             </CreateContainerViewResponse>",
        );

        let Answer::Result(leaves) = parse_leaves(text.as_bytes()).unwrap() else {
            panic!("expected a result");
        };

        assert_eq!(leaves.len(), 1);
        assert_eq!(leaves[0].path, "");
        assert_eq!(leaves[0].text, "session[1]2");
        assert_eq!(leaves[0].type_attr.as_deref(), Some("ContainerView"));
    }

    #[test]
    fn a_document_cut_short_is_an_error_not_an_empty_page() {
        let text = envelope(
            "<RetrievePropertiesExResponse xmlns=\"urn:vim25\"><returnval><objects>\
             <obj type=\"VirtualMachine\">vm-1</obj>",
        );
        let cut = &text[..text.find("</soapenv:Body>").unwrap()];

        let error = parse_retrieve(cut.as_bytes(), |_| {}).unwrap_err();

        assert!(error.0.contains("ends in the middle"), "{error}");
    }

    #[test]
    fn something_that_is_not_soap_is_refused_with_what_it_starts_with() {
        let error = parse_leaves(b"<html><body>Service Unavailable</body></html>").unwrap_err();

        assert!(error.0.contains("<html>"), "{error}");
    }

    #[test]
    fn the_service_version_is_the_urn_vim25_version() {
        let text = b"<?xml version=\"1.0\"?><namespaces version=\"1.0\">\
            <namespace><name>urn:other</name><version>9.9</version></namespace>\
            <namespace><name>urn:vim25</name><version>8.0.2.0</version>\
            <priorVersions><version>8.0.1.0</version></priorVersions></namespace></namespaces>";

        assert_eq!(
            parse_service_version(text).unwrap().as_deref(),
            Some("8.0.2.0")
        );
    }
}
