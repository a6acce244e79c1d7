package gui

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/volume"

	"github.com/berthvm/berth/app/control"
	"github.com/berthvm/berth/internal/bytesize"
	"github.com/berthvm/berth/netproxy/portspec"
)

// The view models below are plain data computed from what the daemon and
// the engine report, so what the window shows is tested without a window.

// Tone is how a state is coloured: in the window's state dot and the tray.
type Tone int

// The tones, one per kind of state.
const (
	Idle Tone = iota // stopped
	Busy             // starting, stopping
	Good             // running
	Bad              // error, or the daemon is unreachable
)

// MachineView is the header of the window for one machine status.
type MachineView struct {
	Title  string // "Running"
	Detail string // the progress step, the error's reason, the engine version
	Tone   Tone
	// Buttons that make sense in this state.
	CanStart, CanStop, CanRestart bool
	// Progress shows an indefinite progress bar (long work under way).
	Progress bool
	// ShowLogs offers the daemon and VM logs (after an error).
	ShowLogs bool
	// UrgeRestart makes Restart the button to press (a disk of the VM
	// stopped answering).
	UrgeRestart bool
}

// machineView maps a status, or the error of fetching it, to the header.
func machineView(st control.Status, err error) MachineView {
	if err != nil {
		return MachineView{Title: "Daemon not reachable", Detail: err.Error() + " — Start launches it again.", Tone: Bad, CanStart: true, ShowLogs: true}
	}
	switch st.State {
	case control.Stopped:
		return MachineView{Title: "Stopped", Detail: "Start Berth to run containers.", Tone: Idle, CanStart: true}
	case control.Starting:
		d := "Starting…"
		if st.Step != "" {
			d = st.Step
		}
		return MachineView{Title: "Starting", Detail: d, Tone: Busy, CanStop: true, Progress: true}
	case control.Running:
		if st.Reason != "" {
			// The VM is held paused (the host disk is full) and resumes by itself.
			return MachineView{Title: "Paused", Detail: st.Reason, Tone: Bad, CanStop: true, ShowLogs: true}
		}
		if st.DiskStall != nil {
			return MachineView{Title: "Disk not answering", Detail: control.DiskStallText(st.DiskStall, time.Now()),
				Tone: Bad, CanStop: true, CanRestart: true, ShowLogs: true, UrgeRestart: true}
		}
		d := "The docker engine is ready."
		if g := st.Guest; g != nil && g.Versions.Docker != "" {
			d = fmt.Sprintf("Docker %s · kernel %s · up %s", g.Versions.Docker, g.Versions.Kernel, shortDuration(time.Duration(g.Uptime)*time.Second))
		}
		return MachineView{Title: "Running", Detail: d, Tone: Good, CanStop: true, CanRestart: true}
	case control.Stopping:
		d := "Stopping containers and the VM…"
		if st.Step != "" {
			d = st.Step
		}
		return MachineView{Title: "Stopping", Detail: d, Tone: Busy, Progress: true}
	case control.Error:
		return MachineView{Title: "Error", Detail: st.Reason + " — see the logs, then Start to try again.", Tone: Bad, CanStart: true, CanStop: true, ShowLogs: true}
	}
	return MachineView{Title: string(st.State), Tone: Bad, ShowLogs: true}
}

// ContainerRow is one line of the containers list.
type ContainerRow struct {
	ID, Name, Image string
	State           string // running, exited, …
	Status          string // "Up 3 minutes"
	Running         bool
	Ports           []PortLink
	Created         string
}

// PortLink is a published port as the user asked for it; URL is set for
// TCP ports open on the host, Problem when the host side failed.
type PortLink struct {
	Label   string
	URL     *url.URL
	Problem string
}

func containerRows(list []container.Summary, now time.Time) []ContainerRow {
	rows := make([]ContainerRow, 0, len(list))
	for _, c := range list {
		rows = append(rows, ContainerRow{
			ID: c.ID, Name: containerName(c), Image: c.Image,
			State: string(c.State), Status: c.Status, Running: c.State == container.StateRunning,
			Ports:   portLinks(c.Ports),
			Created: ago(time.Unix(c.Created, 0), now),
		})
	}
	// Running first, then by name: what the user works with is on top.
	slices.SortStableFunc(rows, func(a, b ContainerRow) int {
		if a.Running != b.Running {
			if a.Running {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return rows
}

// containerName is the name docker ps shows, or the short ID.
func containerName(c container.Summary) string {
	if len(c.Names) > 0 {
		return strings.TrimPrefix(c.Names[0], "/")
	}
	return c.ID[:min(12, len(c.ID))]
}

// portLinks lists published ports once each, from the engine's list: the
// engine reports a port published without an address on 0.0.0.0 and ::.
// The daemon's forwards say more (forwardLinks); this serves until they
// arrive.
func portLinks(ports []container.PortSummary) []PortLink {
	var links []PortLink
	seen := map[string]bool{}
	sorted := slices.Clone(ports)
	slices.SortFunc(sorted, func(a, b container.PortSummary) int { return int(a.PublicPort) - int(b.PublicPort) })
	for _, p := range sorted {
		if p.PublicPort == 0 {
			continue
		}
		var ip netip.Addr
		if p.IP.IsLoopback() {
			ip = p.IP.Unmap() // a wildcard is what the engine makes of "no address"
		}
		label := portspec.Published(ip, int(p.PublicPort), int(p.PrivatePort), string(p.Type))
		if seen[label] {
			continue
		}
		seen[label] = true
		l := PortLink{Label: label}
		if p.Type == "" || p.Type == "tcp" {
			l.URL = hostURL(ip, int(p.PublicPort))
		}
		links = append(links, l)
	}
	return links
}

// hostURL opens a port on the host: on its address if it is one loopback
// address, else on localhost.
func hostURL(ip netip.Addr, port int) *url.URL {
	host := "localhost"
	if ip.IsValid() && ip.IsLoopback() {
		host = ip.String()
	}
	return &url.URL{Scheme: "http", Host: net.JoinHostPort(host, strconv.Itoa(port))}
}

// forwardLinks are a running container's published ports from the daemon's
// forwards: as the user asked for them, with what could not be opened.
func forwardLinks(pubs []control.Publication) []PortLink {
	var links []PortLink
	for _, p := range pubs {
		l := PortLink{Label: p.Published}
		if len(p.Failed) > 0 {
			l.Problem = "not on " + strings.Join(p.Failed, ", ") + ": " + p.Errors[0]
		}
		if p.Proto == "tcp" && len(p.HostIPs) > 0 {
			var ip netip.Addr
			if len(p.HostIPs) == 1 {
				ip, _ = netip.ParseAddr(p.HostIPs[0])
			}
			l.URL = hostURL(ip, p.HostPort)
		}
		links = append(links, l)
	}
	return links
}

// ImageRow is one line of the images list.
type ImageRow struct {
	ID      string // full ID, for removal
	Tag     string // repo:tag, or <none> for a dangling image
	ShortID string
	Size    string
	Created string
	InUse   bool
}

func imageRows(list []image.Summary, now time.Time) []ImageRow {
	var rows []ImageRow
	for _, im := range list {
		short := strings.TrimPrefix(im.ID, "sha256:")
		short = short[:min(12, len(short))]
		tags := im.RepoTags
		if len(tags) == 0 {
			tags = []string{"<none>:<none>"}
		}
		for _, tag := range tags {
			id := tag
			if tag == "<none>:<none>" {
				id = im.ID
			}
			rows = append(rows, ImageRow{ID: id, Tag: tag, ShortID: short, Size: bytesize.Decimal(im.Size), Created: ago(time.Unix(im.Created, 0), now), InUse: im.Containers > 0})
		}
	}
	slices.SortFunc(rows, func(a, b ImageRow) int { return strings.Compare(a.Tag, b.Tag) })
	return rows
}

// VolumeRow is one line of the volumes list.
type VolumeRow struct {
	Name, Driver string
	Size         string // "" while unknown
	UsedBy       []string
}

// volumeRows joins the volume list with disk usage (sizes) and the
// containers that mount each volume.
func volumeRows(vols []volume.Volume, usage []volume.Volume, containers []container.Summary) []VolumeRow {
	size := map[string]int64{}
	for _, u := range usage {
		if u.UsageData != nil && u.UsageData.Size >= 0 {
			size[u.Name] = u.UsageData.Size
		}
	}
	users := map[string][]string{}
	for _, c := range containers {
		for _, m := range c.Mounts {
			if m.Type == "volume" && m.Name != "" {
				users[m.Name] = append(users[m.Name], containerName(c))
			}
		}
	}
	rows := make([]VolumeRow, 0, len(vols))
	for _, v := range vols {
		r := VolumeRow{Name: v.Name, Driver: v.Driver, UsedBy: users[v.Name]}
		if s, ok := size[v.Name]; ok {
			r.Size = bytesize.Decimal(s)
		}
		slices.Sort(r.UsedBy)
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b VolumeRow) int { return strings.Compare(a.Name, b.Name) })
	return rows
}

func ago(t, now time.Time) string {
	if t.IsZero() || t.Unix() <= 0 {
		return ""
	}
	d := now.Sub(t)
	if d < time.Minute {
		return "just now"
	}
	return shortDuration(d) + " ago"
}

func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + " h"
	}
	return strconv.Itoa(int(d.Hours()/24)) + " days"
}
