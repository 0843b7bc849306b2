// hyalto's only script, served from the binary. Every page works without it; it adds:
// - live progress of the record sync on Billing › Integrations (polls a JSON endpoint),
// - the Master Agreement list following the chosen company on Map Company,
// - live progress of a sync started with Sync now or Apply (polls GET /api/v1/sync),
// - a confirmation before forms marked with data-confirm.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    });
  }

  const progress = document.getElementById("refresh-progress");
  if (progress && progress.dataset.running === "true") {
    pollRefresh(progress);
  }

  const job = document.getElementById("sync-job");
  if (job && job.dataset.running === "true") {
    pollSync(job);
  }

  const company = document.getElementById("companyId");
  const agreement = document.getElementById("agreementId");
  if (company && agreement) {
    company.addEventListener("change", () => loadAgreements(company.value, agreement));
  }
});

async function pollRefresh(section) {
  const state = section.querySelector(".progress-state");
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    let body;
    try {
      const response = await fetch("/api/v1/connection/refresh", { credentials: "same-origin" });
      if (!response.ok) {
        return;
      }
      body = await response.json();
    } catch {
      return;
    }
    const progress = body.progress;
    if (!progress) {
      return;
    }
    for (const kind of progress.kinds) {
      const row = section.querySelector(`tr[data-kind="${CSS.escape(kind.label)}"]`);
      if (row) {
        row.cells[1].textContent = String(kind.count);
        row.cells[2].textContent = kind.done ? "done" : "…";
      }
    }
    if (!progress.running) {
      // The status card (last sync, last error) comes from the server, so show it fresh.
      state.textContent = progress.errorMessage
        ? `The record sync stopped: ${progress.errorMessage}`
        : `Done: ${progress.records} records cached.`;
      window.location.reload();
      return;
    }
  }
}

async function loadAgreements(companyId, select) {
  select.replaceChildren(option("", companyId ? "Loading agreements…" : "Choose a company first"));
  if (!companyId) {
    return;
  }
  try {
    const response = await fetch(`/api/v1/companies/${encodeURIComponent(companyId)}/agreements`, {
      credentials: "same-origin",
    });
    const body = await response.json();
    if (!response.ok) {
      select.replaceChildren(option("", body.error ? body.error.message : "Could not load the agreements"));
      return;
    }
    const agreements = body.agreements;
    select.replaceChildren(
      option("", agreements.length ? "Choose a master agreement" : "This company has no active agreement"),
      ...agreements.map((a) => option(String(a.id), `${a.name} (#${a.id}${a.typeName ? ", " + a.typeName : ""})`)),
    );
  } catch {
    select.replaceChildren(option("", "Could not load the agreements; reload the page"));
  }
}

function option(value, text) {
  const element = document.createElement("option");
  element.value = value;
  element.textContent = text;
  return element;
}

async function pollSync(section) {
  const state = section.querySelector(".sync-state");
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    let body;
    try {
      const response = await fetch("/api/v1/sync", { credentials: "same-origin" });
      if (!response.ok) {
        return;
      }
      body = await response.json();
    } catch {
      return;
    }
    const job = body.job;
    if (!job) {
      return;
    }
    if (!job.running) {
      // The outcome and the run's status come from the server, so show the page fresh.
      window.location.reload();
      return;
    }
    if (state && job.customersTotal) {
      state.textContent = `Syncing: ${job.customersDone} of ${job.customersTotal} customers done…`;
    }
  }
}
