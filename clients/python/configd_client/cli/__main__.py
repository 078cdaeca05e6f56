from configd_client.cli.app import main

main()
