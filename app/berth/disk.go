package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"golang.org/x/term"

	"github.com/berthvm/berth/app/diskuse"
	"github.com/berthvm/berth/app/launcher"
	"github.com/berthvm/berth/internal/bytesize"
)

func cmdDf(args []string) error {
	fs := newFlags("df")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := paths()
	if err != nil {
		return err
	}
	r, err := launcher.Client{Paths: p}.DiskUse(context.Background())
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(r)
	}
	return r.Write(os.Stdout)
}

func cmdReclaim(args []string) error {
	fs := newFlags("reclaim")
	what := fs.String("what", "containers,images,build-cache", "what to remove: containers (stopped), images (dangling), build-cache (unused), volumes (unused, with their data), or all")
	dryRun := fs.Bool("dry-run", false, "only show what would be freed")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	if err := fs.Parse(args); err != nil {
		return err
	}
	picks, err := diskuse.ParsePicks(*what)
	if err != nil {
		return fmt.Errorf("--what %s: %w", *what, err)
	}
	p, err := paths()
	if err != nil {
		return err
	}
	c := launcher.Client{Paths: p}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	r, err := c.DiskUse(ctx)
	if err != nil {
		return err
	}
	fmt.Println("Would remove:")
	for _, cat := range r.Categories {
		if picks.Has(cat.Kind) {
			fmt.Printf("  %d %s: %s\n", cat.FreesCount, cat.Kind.Unused(), bytesize.Decimal(cat.Frees))
		}
	}
	fmt.Printf("then trim the data disk, which takes %s on the host now.\n", bytesize.Binary(r.Host.Allocated))
	if *dryRun {
		return nil
	}
	if !*yes {
		if !term.IsTerminal(int(os.Stdin.Fd())) {
			return errors.New("not reclaimed: add --yes to reclaim without a question")
		}
		fmt.Print("Continue? [y/N] ")
		line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			return errors.New("not reclaimed (use --yes to skip this question)")
		}
	}
	res, err := c.Reclaim(ctx, picks, func(step string) { fmt.Println(step) })
	fmt.Println(res.HostLine())
	return err
}
