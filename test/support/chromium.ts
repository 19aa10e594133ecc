import { chromium } from "playwright-core";
import type { Browser } from "playwright-core";

/** Debian's headless Chromium (scripts/install-servers.sh), quiet on this closed network. */
export function launchChromium(): Promise<Browser> {
	return chromium.launch({
		executablePath: "/usr/bin/chromium",
		headless: true,
		// without the background-networking flags Chromium keeps calling home on this closed network
		args: [
			"--no-sandbox",
			"--disable-gpu",
			"--disable-quic",
			"--no-first-run",
			"--disable-background-networking",
			"--disable-component-update",
			"--disable-sync"
		]
	});
}
