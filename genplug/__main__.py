from genplug._cli import main

main()
