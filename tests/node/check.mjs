// Drives the published `connectwise-rest` client, unmodified, against a running hyalto
// ConnectWise sandbox. The Rust test `tests/node_client.rs` starts the sandbox with TLS and runs
// this script; it can also be run by hand against `hyalto cw-sandbox --tls`:
//
//   CW_SITE=127.0.0.1:8088 CW_COMPANY_ID=hyalto CW_PUBLIC_KEY=... CW_PRIVATE_KEY=... \
//   CW_CLIENT_ID=... NODE_EXTRA_CA_CERTS=/path/to/cert.pem node tests/node/check.mjs
//
// It prints one JSON line with what it saw and exits non-zero on the first failed expectation.

import assert from 'node:assert/strict'
import cw from 'connectwise-rest'

const { ManageAPI } = cw

function env(name) {
  const value = process.env[name]
  if (!value) {
    throw new Error(`${name} is not set; see the comment at the top of this script`)
  }
  return value
}

const api = new ManageAPI({
  companyId: env('CW_COMPANY_ID'),
  companyUrl: env('CW_SITE'),
  publicKey: env('CW_PUBLIC_KEY'),
  privateKey: env('CW_PRIVATE_KEY'),
  clientId: env('CW_CLIENT_ID'),
  apiVersion: '2025.1',
})

// Page through every company three at a time, the way the library's own paginate helper does.
const companies = await api.paginate(api.CompanyAPI.getCompanyCompanies, { pageSize: 3 }, {})
const companyCount = await api.CompanyAPI.getCompanyCompaniesCount({})
assert.equal(companies.length, companyCount.count, 'paginate must see every company once')
assert.equal(new Set(companies.map((c) => c.id)).size, companies.length, 'no company twice')

// A condition with an apostrophe and an ampersand must find exactly the company that has it.
const tricky = companies.find((c) => c.name.includes("'") && c.name.includes('&'))
assert.ok(tricky, "the demo seed has a company name with an apostrophe and an ampersand")
const found = await api.CompanyAPI.getCompanyCompanies({
  conditions: `name = "${tricky.name}"`,
})
assert.deepEqual(
  found.map((c) => c.id),
  [tricky.id],
)

const agreements = await api.paginate(api.FinanceAPI.getFinanceAgreements, { pageSize: 2 }, {})
assert.ok(agreements.length > 0, 'the demo seed has agreements')
const master = agreements.find((a) => !a.parentAgreement && !a.cancelledFlag)
assert.ok(master, 'the demo seed has an active master agreement')

// Create a child agreement under the master, then an addition on it.
const child = await api.FinanceAPI.postFinanceAgreements({
  name: 'Node client check',
  type: { id: master.type.id },
  company: { id: master.company.id },
  contact: { id: master.contact.id },
  parentAgreement: { id: master.id },
  startDate: '2026-01-01T00:00:00Z',
  noEndingDateFlag: true,
})
assert.equal(child.parentAgreement.id, master.id)

const catalog = await api.ProcurementAPI.getProcurementCatalog({
  conditions: 'productClass != "Bundle"',
  pageSize: 1,
})
assert.equal(catalog.length, 1, 'the demo seed has a catalog item that can be an addition')

const addition = await api.FinanceAPI.postFinanceAgreementsByParentIdAdditions(child.id, {
  product: { id: catalog[0].id },
  quantity: 4,
  billCustomer: 'Billable',
  effectiveDate: '2026-01-01T00:00:00Z',
})
assert.equal(addition.quantity, 4)

const patched = await api.FinanceAPI.patchFinanceAgreementsByParentIdAdditionsById(
  addition.id,
  child.id,
  [{ op: 'replace', path: 'quantity', value: 12 }],
)
assert.equal(patched.quantity, 12)

const reread = await api.FinanceAPI.getFinanceAgreementsByParentIdAdditionsById(
  addition.id,
  child.id,
)
assert.equal(reread.quantity, 12, 'the patched quantity reads back')

console.log(
  JSON.stringify({
    companies: companies.length,
    agreements: agreements.length,
    childAgreementId: child.id,
    additionId: addition.id,
    quantity: reread.quantity,
  }),
)
