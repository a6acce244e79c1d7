// Command fswatcher prints what Go's fsnotify (as air, and other Go tools
// that rebuild on change, use it) reports for the directories it is given,
// one line per event: "fsnotify OP PATH". Directories created under them are
// watched too.
package main

import (
	"fmt"
	"os"

	"github.com/fsnotify/fsnotify"
)

func main() {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, d := range os.Args[1:] {
		if err := w.Add(d); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	fmt.Println("fsnotify ready")
	for {
		select {
		case ev := <-w.Events:
			fmt.Printf("fsnotify %s %s\n", ev.Op, ev.Name)
			if ev.Has(fsnotify.Create) {
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
					w.Add(ev.Name)
				}
			}
		case err := <-w.Errors:
			fmt.Println("fsnotify error", err)
		}
	}
}
