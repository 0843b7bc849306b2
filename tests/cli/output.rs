//! Output to a reader that went away: `hyalto … | head -1`.

use std::io::Read as _;
use std::process::Stdio;

use crate::helpers::TestSite;

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_standard_output_ends_the_printing_quietly_not_in_a_panic() {
    let site = TestSite::start().await;
    site.set_up_acme().await;
    let mut command = site.command(&["connectwise", "mappings"]);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());

    let (status, stderr) = tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().unwrap();
        // Closing the read end before hyalto has opened its store means its first line
        // already meets a closed pipe.
        drop(child.stdout.take());
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (child.wait().unwrap(), stderr)
    })
    .await
    .unwrap();

    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    assert!(status.success(), "{status:?}: {stderr}");
}
