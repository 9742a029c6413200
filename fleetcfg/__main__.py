from fleetcfg.cli.app import main

main()
