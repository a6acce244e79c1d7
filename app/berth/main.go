// Command berth runs Berth: `berth start` boots the Linux VM that runs the
// Docker engine and points the docker CLI at it. See `berth help`.
package main

import (
	"errors"
	"fmt"
	"os"
)

// version is set at build time (-ldflags -X main.version=...).
var version = "dev"

const usage = `Usage: berth [COMMAND [FLAGS]]

With no command, berth opens its window (the dashboard and tray).

Commands:
  gui         open the dashboard window and the tray (--hidden: tray only,
              and start the machine; what runs at login)
  start       start the machine (and the daemon); returns when docker works
              --cpus N  --memory GiB  --disk GiB  --activate (make the berth
              docker context current)  --mount PATH[:ro] (share a host
              folder at the same path; home and temp are shared by default)
              --unmount PATH  --container-log-size MiB (10)
              --container-log-files N (3) (the engine's limit on each
              container's log); flags are saved for next time
  stop        stop the machine cleanly (--force: power off at once;
              --all-users: on Windows, as administrator, every user's)
  restart     stop, then start
  status      show the machine's state (--json for scripts)
  delete      remove the machine and its data disk (--force: don't ask)
  df          what the data disk takes on the host and inside, and what
              fills it: images, containers, volumes, build cache, logs
              (--json for scripts)
  reclaim     remove stopped containers, dangling images and unused build
              cache, trim the data disk and say what the host got back
              (--what containers,images,build-cache,volumes|all;
              --dry-run: only show; --yes: don't ask)
  logs        show the daemon log and the VM console (-n LINES)
  shell       a root shell in the VM, for debugging (berth shell CMD... runs CMD)
  docker-env  print the DOCKER_HOST line for tools that ignore contexts
              (--shell powershell|cmd|bash|zsh|sh|fish; PowerShell by
              default on Windows, export elsewhere)
  version     print versions
  setup       one-time setup as administrator, which the installer does
              (Windows: registers Berth's Hyper-V socket services, puts
              Berth's bin folder on the system Path and adds the signed-in
              user to Hyper-V Administrators; exit status 10: sign out and
              in before starting Berth. --undo removes the services and the
              Path entry. Nothing to do elsewhere)
  daemon      run the daemon in the foreground (berth start runs it for you)
`

func main() {
	if len(os.Args) < 2 {
		if !canShowGUI() {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		os.Args = append(os.Args, "gui")
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "gui":
		err = cmdGUI(args)
	case "start":
		err = cmdStart(args)
	case "stop":
		err = cmdStop(args)
	case "restart":
		err = cmdRestart(args)
	case "status":
		err = cmdStatus(args)
	case "delete":
		err = cmdDelete(args)
	case "df":
		err = cmdDf(args)
	case "reclaim":
		err = cmdReclaim(args)
	case "logs":
		err = cmdLogs(args)
	case "shell":
		err = cmdShell(args)
	case "docker-env":
		err = cmdDockerEnv(args)
	case "version":
		err = cmdVersion(args)
	case "setup":
		err = cmdSetup(args)
	case "daemon":
		err = cmdDaemon(args)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "berth: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	var status exitStatus
	if errors.As(err, &status) {
		os.Exit(int(status))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "berth %s: %v\n", cmd, err)
		os.Exit(1)
	}
}

// exitStatus is a command's documented exit status other than 0 and 1,
// which the command has already explained on its output.
type exitStatus int

func (s exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(s)) }
