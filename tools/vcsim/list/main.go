// Command vcsim-list lists every virtual machine of a vCenter with govmomi, reading the same
// properties hyalto's collector reads, so `hyalto bench vsphere` can compare the two on the
// same simulator in the same run.
//
// It does what hyalto's collector does, the way a govmomi program would: log in, read the
// custom attribute names, list every VirtualMachine through a container view with
// RetrievePropertiesEx and ContinueRetrievePropertiesEx (pages of -page-size objects), then every
// folder, datacenter, cluster and pool with its name and parent, and log out. Each page is
// decoded by govmomi into its Go types and reduced to the few values kept per VM, as hyalto
// keeps only the values it needs. It prints one summary line: VMs, templates, pages, and the
// sums of vCPUs, memory (MiB) and disk capacity (bytes), so the two listings can be checked
// against each other.
//
// The password is read from the environment variable named by -password-env, never from the
// command line, where other users of the machine could see it.
//
// Build with tools/vcsim/build.sh, which puts it next to the launcher as vcsim-list.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

var vmProperties = []string{
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
}

var placeTypes = []string{
	"Folder", "Datacenter", "ComputeResource", "ClusterComputeResource", "ResourcePool", "VirtualApp",
}

// vmSummary is what is kept of each VM once its page has been decoded.
type vmSummary struct {
	uuid       string
	name       string
	cpus       int32
	memoryMiB  int32
	diskBytes  int64
	template   bool
	powerState string
	parent     string
	pool       string
	attributes int
}

func main() {
	address := flag.String("url", "", "the vCenter's SDK address, such as http://127.0.0.1:8989/sdk")
	username := flag.String("username", "", "the vCenter user")
	passwordEnv := flag.String("password-env", "VSPHERE_PASSWORD", "the environment variable holding the password")
	pageSize := flag.Int("page-size", 500, "objects asked for per page (maxObjects)")
	flag.Parse()

	sdk, err := url.Parse(*address)
	if err != nil || sdk.Host == "" {
		log.Fatalf("vcsim-list: -url %q is not a usable address", *address)
	}
	sdk.User = url.UserPassword(*username, os.Getenv(*passwordEnv))

	ctx := context.Background()
	client, err := govmomi.NewClient(ctx, sdk, true)
	if err != nil {
		log.Fatalf("vcsim-list: logging in failed: %v", err)
	}
	defer func() { _ = client.Logout(ctx) }()

	// The custom attribute names, as hyalto reads them for attribute rules.
	fields := 0
	if manager := client.ServiceContent.CustomFieldsManager; manager != nil {
		var fieldsManager mo.CustomFieldsManager
		err := property.DefaultCollector(client.Client).RetrieveOne(ctx, *manager, []string{"field"}, &fieldsManager)
		if err != nil {
			log.Fatalf("vcsim-list: reading the custom attribute names failed: %v", err)
		}
		fields = len(fieldsManager.Field)
	}

	views := view.NewManager(client.Client)
	root := client.ServiceContent.RootFolder

	var vms []vmSummary
	pages, err := listPaged(ctx, client.Client, views, root, []string{"VirtualMachine"}, vmProperties, int32(*pageSize),
		func(objects []types.ObjectContent) error {
			var page []mo.VirtualMachine
			if err := mo.LoadObjectContent(objects, &page); err != nil {
				return err
			}
			for i := range page {
				vms = append(vms, summarise(&page[i]))
			}
			return nil
		})
	if err != nil {
		log.Fatalf("vcsim-list: listing the VMs failed: %v", err)
	}

	places := map[string][2]string{}
	placePages, err := listPaged(ctx, client.Client, views, root, placeTypes, []string{"name", "parent"}, int32(*pageSize),
		func(objects []types.ObjectContent) error {
			for _, object := range objects {
				var name, parent string
				for _, prop := range object.PropSet {
					switch value := prop.Val.(type) {
					case string:
						name = value
					case types.ManagedObjectReference:
						parent = value.Value
					}
				}
				places[object.Obj.Value] = [2]string{name, parent}
			}
			return nil
		})
	if err != nil {
		log.Fatalf("vcsim-list: listing the folders and pools failed: %v", err)
	}

	var cpus, memory, disks int64
	templates, placed := 0, 0
	for _, vm := range vms {
		if vm.template {
			templates++
		}
		cpus += int64(vm.cpus)
		memory += int64(vm.memoryMiB)
		disks += vm.diskBytes
		if _, known := places[vm.parent]; known {
			placed++
		}
	}
	fmt.Printf("vms=%d templates=%d placed=%d places=%d fields=%d pages=%d cpus=%d memory_mib=%d disk_bytes=%d\n",
		len(vms), templates, placed, len(places), fields, pages+placePages, cpus, memory, disks)
}

// listPaged lists the objects of `kinds` below `root` through a container view, page by page,
// handing each page to `keep`, and returns the number of pages.
func listPaged(ctx context.Context, client *vim25.Client, views *view.Manager, root types.ManagedObjectReference,
	kinds []string, props []string, pageSize int32, keep func([]types.ObjectContent) error) (int, error) {
	containerView, err := views.CreateContainerView(ctx, root, kinds, true)
	if err != nil {
		return 0, err
	}
	defer func() { _ = containerView.Destroy(ctx) }()

	var propSet []types.PropertySpec
	for _, kind := range kinds {
		propSet = append(propSet, types.PropertySpec{Type: kind, PathSet: props})
	}
	request := types.RetrievePropertiesEx{
		This: client.ServiceContent.PropertyCollector,
		SpecSet: []types.PropertyFilterSpec{{
			ObjectSet: []types.ObjectSpec{{
				Obj:       containerView.Reference(),
				Skip:      types.NewBool(true),
				SelectSet: []types.BaseSelectionSpec{&types.TraversalSpec{Type: "ContainerView", Path: "view"}},
			}},
			PropSet: propSet,
		}},
		Options: types.RetrieveOptions{MaxObjects: pageSize},
	}

	answer, err := methods.RetrievePropertiesEx(ctx, client, &request)
	if err != nil {
		return 0, err
	}
	pages := 1
	result := answer.Returnval
	for result != nil {
		if err := keep(result.Objects); err != nil {
			return pages, err
		}
		if result.Token == "" {
			break
		}
		next, err := methods.ContinueRetrievePropertiesEx(ctx, client, &types.ContinueRetrievePropertiesEx{
			This:  client.ServiceContent.PropertyCollector,
			Token: result.Token,
		})
		if err != nil {
			return pages, err
		}
		pages++
		result = &next.Returnval
	}
	return pages, nil
}

// summarise keeps the values hyalto's collector keeps of one VM.
func summarise(vm *mo.VirtualMachine) vmSummary {
	summary := vmSummary{name: vm.Name, powerState: string(vm.Runtime.PowerState), attributes: len(vm.CustomValue)}
	if vm.Parent != nil {
		summary.parent = vm.Parent.Value
	}
	if vm.ResourcePool != nil {
		summary.pool = vm.ResourcePool.Value
	}
	if vm.Config != nil {
		summary.uuid = vm.Config.InstanceUuid
		summary.template = vm.Config.Template
		summary.cpus = vm.Config.Hardware.NumCPU
		summary.memoryMiB = vm.Config.Hardware.MemoryMB
		for _, device := range vm.Config.Hardware.Device {
			if disk, ok := device.(*types.VirtualDisk); ok {
				if disk.CapacityInBytes > 0 {
					summary.diskBytes += disk.CapacityInBytes
				} else {
					summary.diskBytes += disk.CapacityInKB * 1024
				}
			}
		}
	}
	return summary
}
