from openlive.cli import main

main()
