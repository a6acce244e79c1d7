//go:build cgo

package main

import "github.com/godbus/dbus/v5"

// hasTray reports whether the desktop shows tray icons: on Linux a
// StatusNotifierItem host must own its watcher name on the session bus.
// Without one the icon would not show, and a window closed to the tray
// could not be opened again.
func hasTray() bool {
	conn, err := dbus.SessionBus()
	if err != nil {
		return false
	}
	var owned bool
	err = conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, "org.kde.StatusNotifierWatcher").Store(&owned)
	return err == nil && owned
}
