from configd.server.cli import main

main()
