from configd.cli import main

main()
