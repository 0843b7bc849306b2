// Command vcsim serves govmomi's vCenter simulator on a loopback port for hyalto's tests.
//
// hyalto's vSphere collector (crates/vsphere) is tested against a real SOAP endpoint rather
// than a mock. The simulator library ships with Debian (golang-github-vmware-govmomi-dev);
// this program sizes its inventory from flags and adds what the tests need on top:
//
//   - strict credentials (-username/-password), so a wrong password is refused;
//   - server-side paging of RetrievePropertiesEx with a token and
//     ContinueRetrievePropertiesEx (-page-size), which the packaged simulator lacks;
//   - fault hooks (-control) that make the Nth call of a given SOAP method answer an HTTP
//     error, or drop every session just before it, so failures happen mid-run;
//   - a count of the SOAP calls served, by method;
//   - https with a certificate the test made (-tls-cert/-tls-key), to test trust settings.
//
// The SDK URL (http://127.0.0.1:PORT/sdk, without credentials) is the first line printed on
// standard output. The program stops, and removes the simulator's temporary datastore
// folders, on SIGINT or SIGTERM, and with -watch-stdin also when its standard input is
// closed, so a test that drops its handle to the process (or dies) cleans up after itself.
//
// Build with tools/vcsim/build.sh.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func main() {
	datacenters := flag.Int("dc", 1, "datacenters")
	clusters := flag.Int("cluster", 1, "clusters per datacenter")
	clusterHosts := flag.Int("cluster-host", 1, "hosts per cluster")
	standalone := flag.Int("standalone-host", 0, "standalone hosts per datacenter")
	pools := flag.Int("pool", 0, "child resource pools per cluster (the model puts no VMs in them)")
	apps := flag.Int("app", 0, "vApps per cluster")
	machines := flag.Int("vm", 2, "VMs per cluster, per standalone host and per vApp")
	autostart := flag.Bool("autostart", true, "power on the VMs the model creates")

	listen := flag.String("listen", "127.0.0.1:0", "address to listen on; keep it on loopback")
	username := flag.String("username", "", "the only user name Login accepts (any when empty)")
	password := flag.String("password", "", "the only password Login accepts, with -username")
	idle := flag.Duration("idle-timeout", 0, "drop sessions idle for this long (0: never)")
	pageSize := flag.Int("page-size", 0, "most objects per RetrievePropertiesEx answer; 0 turns paging off")
	control := flag.Bool("control", false, "serve the /hyalto-vcsim/ fault hooks")
	tlsCert := flag.String("tls-cert", "", "serve https with this PEM certificate (with -tls-key)")
	tlsKey := flag.String("tls-key", "", "the PEM private key of -tls-cert")
	watchStdin := flag.Bool("watch-stdin", false, "stop when standard input is closed")
	flag.Parse()

	model := simulator.VPX()
	model.Datacenter = *datacenters
	model.Cluster = *clusters
	model.ClusterHost = *clusterHosts
	model.Host = *standalone
	model.Pool = *pools
	model.App = *apps
	model.Machine = *machines
	model.Autostart = *autostart
	simulator.SessionIdleTimeout = *idle

	// Everything that can fail is checked before the inventory exists: a fatal error after it
	// would leave the simulator's datastore folders behind.
	var certificates []tls.Certificate
	if *tlsCert != "" || *tlsKey != "" {
		pair, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			log.Fatalf("vcsim: reading -tls-cert and -tls-key failed: %v", err)
		}
		certificates = append(certificates, pair)
	}

	started := time.Now()
	if err := model.Create(); err != nil {
		log.Fatalf("vcsim: building the inventory failed: %v", err)
	}
	defer model.Remove()
	log.Printf("vcsim: inventory built in %s", time.Since(started).Round(time.Millisecond))

	if *pageSize > 0 {
		usePagingCollector(*pageSize)
	}

	listenURL := &url.URL{Host: *listen}
	if *username != "" {
		listenURL.User = url.UserPassword(*username, *password)
	}
	model.Service.Listen = listenURL
	model.Service.ServeMux = http.NewServeMux()
	if len(certificates) > 0 {
		model.Service.TLS = &tls.Config{Certificates: certificates}
	}
	server := model.Service.NewServer()
	defer server.Close()

	// The simulator answers every request through its own mux; the hooks wrap it. Nobody
	// knows the port before the URL is printed below, so no request is in flight yet.
	hooks := &faultHooks{calls: map[string]int{}, login: server.URL}
	if *control {
		model.Service.ServeMux.HandleFunc("/hyalto-vcsim/fault", hooks.arm)
		model.Service.ServeMux.HandleFunc("/hyalto-vcsim/calls", hooks.report)
	}
	server.Server.Config.Handler = hooks.wrap(model.Service.ServeMux)

	public := *server.URL
	public.User = nil
	fmt.Println(public.String())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	if *watchStdin {
		go func() {
			_, _ = io.Copy(ioutil.Discard, os.Stdin)
			stop <- syscall.SIGTERM
		}()
	}
	<-stop
}

// bodyMethod finds the SOAP method name: the first element inside the envelope's Body.
var bodyMethod = regexp.MustCompile(`<(?:[\w.-]+:)?Body[^>]*>\s*<(?:[\w.-]+:)?([\w.-]+)`)

// fault is one armed failure: after `skip` more calls of `method`, the next one fails.
type fault struct {
	method string
	skip   int
	status int  // an HTTP status answered with an empty body, or 0
	expire bool // drop every session before serving the call
}

type faultHooks struct {
	mu      sync.Mutex
	armed   []*fault
	calls   map[string]int
	login   *url.URL // the SDK URL with the accepted credentials
	private bool     // true while the hooks themselves talk to the simulator
}

// arm handles GET /hyalto-vcsim/fault?method=M&skip=N&(status=503|expire=1).
func (h *faultHooks) arm(w http.ResponseWriter, r *http.Request) {
	query := r.URL.Query()
	method := query.Get("method")
	skip, _ := strconv.Atoi(query.Get("skip"))
	status, _ := strconv.Atoi(query.Get("status"))
	expire := query.Get("expire") == "1"
	if method == "" || skip < 0 || (status == 0) == !expire || (status != 0 && (status < 400 || status > 599)) {
		http.Error(w, "give method=NAME, optional skip=N, and either status=4xx/5xx or expire=1", http.StatusBadRequest)
		return
	}

	h.mu.Lock()
	h.armed = append(h.armed, &fault{method: method, skip: skip, status: status, expire: expire})
	h.mu.Unlock()
	fmt.Fprintf(w, "armed: call %d of %s from now\n", skip+1, method)
}

// report handles GET /hyalto-vcsim/calls: the SOAP calls served so far, by method.
func (h *faultHooks) report(w http.ResponseWriter, _ *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(h.calls)
}

func (h *faultHooks) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/sdk" {
			next.ServeHTTP(w, r)
			return
		}

		body, err := ioutil.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "cannot read the request", http.StatusBadRequest)
			return
		}
		r.Body = ioutil.NopCloser(bytes.NewReader(body))
		method := ""
		if match := bodyMethod.FindSubmatch(body); match != nil {
			method = string(match[1])
		}

		triggered := h.count(method)
		if triggered != nil && triggered.expire {
			if err := h.dropSessions(); err != nil {
				log.Printf("vcsim: dropping the sessions failed: %v", err)
			}
		}
		if triggered != nil && triggered.status != 0 {
			w.WriteHeader(triggered.status)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// count records one call and returns the fault it triggers, if any.
func (h *faultHooks) count(method string) *fault {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.private {
		return nil
	}
	h.calls[method]++

	for i, f := range h.armed {
		if f.method != method {
			continue
		}
		if f.skip > 0 {
			f.skip--
			continue
		}
		h.armed = append(h.armed[:i], h.armed[i+1:]...)
		return f
	}
	return nil
}

// dropSessions ends every SOAP session, as an administrator or a vCenter restart would: it
// logs in, lists the sessions and terminates all but its own, so their next call gets a
// NotAuthenticated fault.
func (h *faultHooks) dropSessions() error {
	h.mu.Lock()
	h.private = true
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.private = false
		h.mu.Unlock()
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := govmomi.NewClient(ctx, h.login, true)
	if err != nil {
		return err
	}
	defer func() { _ = client.Logout(ctx) }()

	var manager mo.SessionManager
	collector := property.DefaultCollector(client.Client)
	err = collector.RetrieveOne(ctx, *client.ServiceContent.SessionManager, []string{"sessionList", "currentSession"}, &manager)
	if err != nil {
		return err
	}
	var others []string
	for _, s := range manager.SessionList {
		if manager.CurrentSession == nil || s.Key != manager.CurrentSession.Key {
			others = append(others, s.Key)
		}
	}
	if len(others) == 0 {
		return nil
	}
	return session.NewManager(client.Client).TerminateSession(ctx, others)
}

// Paging. The packaged simulator answers RetrievePropertiesEx with every object at once and
// has no ContinueRetrievePropertiesEx. A real vCenter pages, so the collector's token loop
// needs a server that does too. pagingCollector replaces the PropertyCollector object: the
// simulator dispatches SOAP methods by name, so the methods below override or add calls, and
// each session gets its own zero-valued copy of it, as each vCenter session has its own
// collector.

var (
	pageLimit  int
	pagesMu    sync.Mutex
	pages      = map[string][]types.ObjectContent{} // token -> objects still to send
	pageLimits = map[string]int{}                   // token -> page size of that listing
	lastToken  int
)

type pagingCollector struct {
	simulator.PropertyCollector
}

func usePagingCollector(limit int) {
	pageLimit = limit
	ref := types.ManagedObjectReference{Type: "PropertyCollector", Value: "propertyCollector"}
	if simulator.Map.Get(ref) == nil {
		log.Fatal("vcsim: the simulator has no property collector to replace")
	}
	collector := &pagingCollector{}
	collector.Self = ref
	simulator.Map.Put(collector)
}

// nextPage sends at most `limit` objects and keeps the rest under a new token.
func nextPage(objects []types.ObjectContent, limit int) types.RetrieveResult {
	if len(objects) <= limit {
		return types.RetrieveResult{Objects: objects}
	}
	pagesMu.Lock()
	defer pagesMu.Unlock()
	lastToken++
	token := "page-" + strconv.Itoa(lastToken)
	pages[token] = objects[limit:]
	pageLimits[token] = limit
	return types.RetrieveResult{Token: token, Objects: objects[:limit]}
}

func (c *pagingCollector) RetrievePropertiesEx(ctx *simulator.Context, req *types.RetrievePropertiesEx) soap.HasFault {
	answer := c.PropertyCollector.RetrievePropertiesEx(ctx, req)
	body, ok := answer.(*methods.RetrievePropertiesExBody)
	if !ok || body.Fault_ != nil || body.Res == nil || body.Res.Returnval == nil {
		return answer
	}

	limit := pageLimit
	if max := int(req.Options.MaxObjects); max > 0 && max < limit {
		limit = max
	}
	page := nextPage(body.Res.Returnval.Objects, limit)
	body.Res.Returnval = &page
	return body
}

func (c *pagingCollector) ContinueRetrievePropertiesEx(ctx *simulator.Context, req *types.ContinueRetrievePropertiesEx) soap.HasFault {
	body := new(methods.ContinueRetrievePropertiesExBody)
	pagesMu.Lock()
	rest, known := pages[req.Token]
	limit := pageLimits[req.Token]
	delete(pages, req.Token)
	delete(pageLimits, req.Token)
	pagesMu.Unlock()
	if !known {
		body.Fault_ = simulator.Fault("the token is unknown or was already used", &types.InvalidArgument{InvalidProperty: "token"})
		return body
	}
	body.Res = &types.ContinueRetrievePropertiesExResponse{Returnval: nextPage(rest, limit)}
	return body
}

func (c *pagingCollector) CancelRetrievePropertiesEx(ctx *simulator.Context, req *types.CancelRetrievePropertiesEx) soap.HasFault {
	body := new(methods.CancelRetrievePropertiesExBody)
	pagesMu.Lock()
	_, known := pages[req.Token]
	delete(pages, req.Token)
	delete(pageLimits, req.Token)
	pagesMu.Unlock()
	if !known {
		body.Fault_ = simulator.Fault("the token is unknown or was already used", &types.InvalidArgument{InvalidProperty: "token"})
		return body
	}
	body.Res = new(types.CancelRetrievePropertiesExResponse)
	return body
}
